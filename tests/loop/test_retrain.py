"""`retrain` on a real endpoint: warm start from the served model, side-by-side evaluation, registry, gates, rollout."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scones.config import Settings
from scones.endpoint import registry
from scones.endpoint.deployments import Strategy
from scones.endpoint.guardrails import Triggers
from scones.loop.retrain import Gates, RetrainOptions, decide, retrain
from scones.loop.versions import add_reviewed
from scones.model import jobs, packages
from scones.storage import Store
from tests.loop.conftest import reviewed_items

QUICK = Strategy("all-at-once", bake_seconds=1.0, poll_seconds=0.2)


@pytest.fixture
def served(settings: Settings, staged: Store, endpoint: str) -> str:
    """Endpoint "ep" serving a tiny model trained on the staged data, and a reviewed version beside it."""
    add_reviewed(settings, staged, "ep", reviewed_items(20))
    return endpoint


def test_a_candidate_is_warm_started_compared_and_registered_and_stays_pending_short_of_the_margin(
    settings: Settings, staged: Store, served: str
) -> None:
    before = registry.describe(settings, "ep").config["model_sha256"]
    result = retrain(settings, "ep", RetrainOptions(epochs=1, gates=Gates(margin=1.0), strategy=QUICK))
    candidate = result["candidate"]
    assert candidate["warm_start"] and candidate["epochs"] == 1 and result["dataset"] == "s3://scones/data-v2"
    job = jobs.get(settings, candidate["training_job"])
    assert job is not None and job["hyperparameters"]["pretrained_weights"] == served
    assert job["channels"]["validation"] == "s3://scones/data-v2/train"  # the epoch is chosen on a carve of train
    carved = staged.get("scones", f"loop/{candidate['training_job']}/validation.lst").decode().splitlines()
    kept = staged.get("scones", f"loop/{candidate['training_job']}/train.lst").decode().splitlines()
    assert len(carved) + len(kept) == 80 and not set(carved) & set(kept)
    for side in ("current", "candidate"):
        evaluation = result[side]["evaluation"]
        assert evaluation["test"]["images"] == 16 and evaluation["reviewed-test"]["images"] == 4
    assert result["current"]["model"] == served and candidate["model"] != served
    reviewed = result["comparison"]["reviewed-test"]
    assert reviewed["current"] == result["current"]["evaluation"]["reviewed-test"]["accuracy"]
    package = packages.describe(settings, "ep", 1)
    assert package.status == "PendingManualApproval" and package.training_job == candidate["training_job"]
    assert package.description is not None and "not better on reviewed-test by the margin 1.0000" in package.description
    assert result["decision"]["status"] == "PendingManualApproval" and not result["decision"]["deploy"]
    assert "not better on reviewed-test by the margin 1.0000" in result["decision"]["reason"]
    assert registry.describe(settings, "ep").config["model_sha256"] == before


def test_a_candidate_that_passes_the_gates_is_rolled_out_and_approved(
    settings: Settings, staged: Store, served: str
) -> None:
    before = registry.describe(settings, "ep").config["model_sha256"]
    options = RetrainOptions(epochs=1, gates=Gates(margin=0.0, tolerance=1.0), strategy=QUICK,
                             triggers=Triggers(min_requests=1000))  # fmt: skip
    result = retrain(settings, "ep", options)
    decision = result["decision"]
    assert decision["passed_gates"] and decision["rollout"] == "Completed" and decision["status"] == "Approved"
    package = packages.describe(settings, "ep", 1)
    assert package.status == "Approved"
    after = registry.describe(settings, "ep").config["model_sha256"]
    assert after != before and after == package.model_sha256


def _ev(accuracy: float) -> SimpleNamespace:
    return SimpleNamespace(accuracy=accuracy)


@pytest.mark.parametrize(
    ("current", "candidate", "go", "phrase"),
    [
        ((0.90, 0.50), (0.90, 0.80), True, "better on reviewed-test by +0.3000"),
        ((0.90, 0.50), (0.895, 0.80), True, "test within tolerance"),  # 0.005 worse: inside 0.01
        ((0.90, 0.50), (0.90, 0.51), False, "not better on reviewed-test by the margin 0.0200"),
        ((0.90, 0.50), (0.85, 0.90), False, "worse on the test split beyond the tolerance 0.0100"),
    ],
)
def test_the_gates(current: tuple[float, float], candidate: tuple[float, float], go: bool, phrase: str) -> None:
    pair = ({"test": _ev(current[0]), "reviewed-test": _ev(current[1])},
            {"test": _ev(candidate[0]), "reviewed-test": _ev(candidate[1])})  # fmt: skip
    passed, why = decide(*pair, Gates(margin=0.02, tolerance=0.01))  # type: ignore[arg-type]
    assert passed is go and phrase in why


def test_the_candidate_names_the_classes_of_the_data_not_the_defaults(settings: Settings, store: Store) -> None:
    """Your own photos' classes (here van and bike, label 0 and 1) stay named in the retrained model: the
    carved lists live apart from the version, and a manifest-less carve fell back to bicycle, motorcycle."""
    import json

    from scones.endpoint.server import endpoint_config
    from scones.model import artifact
    from scones.model.train import train
    from tests.model.conftest import TINY, stage_synthetic

    stage_synthetic(store)
    manifest = json.loads(store.get("scones", "data/manifest.json"))
    store.put("scones", "data/manifest.json", json.dumps({**manifest, "classes": ["van", "bike"]}).encode())
    base = train(settings, TINY, name="base", store=store)
    assert artifact.load(base["artifact_uri"], store).classes == ["van", "bike"]
    registry.deploy(settings, endpoint_config(settings, name="ep", port=0, workers=1), base["artifact_uri"])
    try:
        add_reviewed(settings, store, "ep", reviewed_items(20))
        result = retrain(settings, "ep", RetrainOptions(epochs=1, deploy=False))
    finally:
        registry.delete(settings, "ep")
    assert artifact.load(result["candidate"]["model"], store).classes == ["van", "bike"]


def test_an_empty_reviewed_test_split_says_how_to_fill_it(settings: Settings, staged: Store, endpoint: str) -> None:
    from scones.errors import DataError

    add_reviewed(settings, staged, "ep", reviewed_items(4))  # two a class: 0.2 of two rounds to none held out
    with pytest.raises(DataError) as raised:
        retrain(settings, "ep", RetrainOptions(epochs=1, deploy=False))
    assert "has no reviewed-test split" in str(raised.value) and "label three or more of a class" in str(raised.value)
    assert "--test-share" in str(raised.value) and not jobs.list_jobs(settings)[1:]  # nothing trained but the base


def test_a_version_without_a_test_split_is_refused_before_any_training(
    settings: Settings, staged: Store, endpoint: str
) -> None:
    import json

    from scones.errors import DataError
    from scones.keys import parse_s3_uri

    version = add_reviewed(settings, staged, "ep", reviewed_items(20))
    bucket, prefix = parse_s3_uri(version.uri)
    manifest = json.loads(staged.get(bucket, f"{prefix}/manifest.json"))
    manifest["counts"].pop("test")  # as a version staged on data without a held-out split would say
    staged.put(bucket, f"{prefix}/manifest.json", json.dumps(manifest).encode())
    with pytest.raises(DataError, match=r"has no test split to judge a candidate on; stage data with one"):
        retrain(settings, "ep", RetrainOptions(epochs=1, deploy=False))
    assert not jobs.list_jobs(settings)[1:]  # nothing trained but the base
