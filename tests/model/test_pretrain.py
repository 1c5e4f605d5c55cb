"""Pretraining on the archive's other classes, then fine-tuning on the targets (synthetic archive:
the official CIFAR-100 file is not on this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scones.config import Settings
from scones.data.dataset import read_manifest
from scones.data.stage import archive_classes, stage
from scones.errors import DataError, TrainingError
from scones.model import artifact
from scones.model.channels import Channels
from scones.model.hyperparameters import parse
from scones.model.pretrain import other_classes, pretrain, pretrain_then_train
from scones.model.train import train
from scones.storage import Store
from tests.conftest import DEV_ARCHIVE
from tests.data.archives import small_archive
from tests.model.conftest import TINY

NAMES = ["apple", "bicycle", "cloud", "dolphin", "motorcycle", "tulip"]


@pytest.mark.slow  # two short training jobs: ~35 s on the loaded 2-core machine
def test_pretrains_on_the_other_classes_then_the_target_run_starts_from_it(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    archive = small_archive(tmp_path / "cifar.tar.gz", per_class=12, names=NAMES)
    record = pretrain(settings, archive, hyperparameters={**TINY, "epochs": 1}, store=store)
    assert record["status"] == "Completed"
    base = artifact.load(record["artifact_uri"], store)
    assert base.classes == ["apple", "cloud", "dolphin", "tulip"]  # every class but the targets, archive order
    staged = read_manifest(store, "s3://scones/pretrain")
    assert staged["classes"] == base.classes and staged["counts"]["train"] == 4 * 12
    stage(store, archive)  # the targets, as `scones stage` stages them
    lines: list[str] = []

    class Lines:
        def start(self, description: str, total: int | None = None) -> None: ...
        def advance(self, n: int = 1) -> None: ...
        def log(self, message: str) -> None:
            lines.append(message)

    hp = {**TINY, "epochs": 1, "use_pretrained_model": 1, "pretrained_weights": record["artifact_uri"]}
    tuned = train(settings, hp, store=store, progress=Lines())
    assert tuned["status"] == "Completed"
    assert artifact.load(tuned["artifact_uri"], store).classes == ["bicycle", "motorcycle"]
    assert any(line.startswith("Transfer learning:") for line in lines)


def test_other_classes_and_bad_targets() -> None:
    assert other_classes(NAMES, ["bicycle", "motorcycle"]) == ["apple", "cloud", "dolphin", "tulip"]
    with pytest.raises(DataError, match="Unknown target class 'unicycle'"):
        other_classes(NAMES, ["unicycle"])
    with pytest.raises(DataError, match="pretraining needs at least 2"):
        other_classes(["bicycle", "motorcycle", "apple"], ["bicycle", "motorcycle"])


def test_bad_hyperparameters_fail_before_the_archive_is_read(settings: Settings, store: Store, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="epochs"):
        pretrain(settings, tmp_path / "missing.tar.gz", hyperparameters={"epochs": 0}, store=store)
    assert list(store.list("scones")) == []


@pytest.mark.slow  # two short training jobs: ~35 s on the loaded 2-core machine
def test_pretrain_on_other_classes_pretrains_then_fine_tunes_the_staged_targets(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    archive = small_archive(tmp_path / "cifar.tar.gz", per_class=12, names=NAMES)
    stage(store, archive)  # bicycle, motorcycle; the manifest names the archive as its source
    hp = parse({**TINY, "epochs": 1, "pretrain_on_other_classes": 1})
    tuned = pretrain_then_train(settings, hp, Channels.staged(settings), "s3://scones/data", store=store)
    assert tuned["status"] == "Completed"
    assert artifact.load(tuned["artifact_uri"], store).classes == ["bicycle", "motorcycle"]
    base = tuned["hyperparameters"]["pretrained_weights"]
    assert tuned["hyperparameters"]["use_pretrained_model"] == 1 and base.startswith("s3://scones/models/")
    assert artifact.load(base, store).classes == ["apple", "cloud", "dolphin", "tulip"]


def test_pretrain_on_other_classes_refuses_data_without_other_classes(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    stage(store, small_archive(tmp_path / "two.tar.gz", names=["bicycle", "motorcycle"]))
    hp = parse({**TINY, "pretrain_on_other_classes": 1})
    with pytest.raises(DataError, match=r"pretrain_on_other_classes=1 needs .*other classes.*scones pretrain --source"):
        pretrain_then_train(settings, hp, Channels.staged(settings), "s3://scones/data", store=store)
    assert not [o.key for o in store.list("scones") if o.key.startswith(("models/", "pretrain/"))]


def test_pretrain_on_other_classes_is_0_or_1_and_not_beside_use_pretrained_model() -> None:
    assert parse({"pretrain_on_other_classes": "1"}).pretrain_on_other_classes == 1
    with pytest.raises(TrainingError, match="pretrain_on_other_classes"):
        parse({"pretrain_on_other_classes": "2"})
    with pytest.raises(TrainingError, match="pretrain_on_other_classes.*use_pretrained_model=0"):
        parse({"pretrain_on_other_classes": 1, "use_pretrained_model": 1, "pretrained_weights": "w.pt"})


def test_pretrain_on_other_classes_refuses_the_dev_archive_whose_meta_names_100_classes(
    settings: Settings, store: Store
) -> None:
    # the dev archive keeps the official meta (100 names) but holds images of the two targets only
    if not DEV_ARCHIVE.is_file():
        pytest.skip(f"development archive not present at {DEV_ARCHIVE}")
    assert len(archive_classes(store, DEV_ARCHIVE)) == 100
    assert archive_classes(store, DEV_ARCHIVE, with_images=True) == ["bicycle", "motorcycle"]
    stage(store, DEV_ARCHIVE)
    hp = parse({**TINY, "pretrain_on_other_classes": 1})
    with pytest.raises(DataError, match=r"has 0 class\(es\) besides the targets.*scones pretrain --source"):
        pretrain_then_train(settings, hp, Channels.staged(settings), "s3://scones/data", store=store)
    assert not [o.key for o in store.list("scones") if o.key.startswith(("models/", "pretrain/"))]
