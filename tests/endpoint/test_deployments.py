"""Guarded deployments on a real endpoint process under 8 concurrent clients: canary and linear
complete for a good candidate, a bad one rolls itself back, and no request fails either way."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from scones.config import Settings
from scones.endpoint import deployments, registry
from scones.endpoint.deployments import Strategy, deploy_model
from scones.endpoint.guardrails import Triggers
from scones.endpoint.server import endpoint_config
from scones.errors import ConfigError, EndpointError
from scones.model.artifact import Artifact, sha256
from tests.endpoint.traffic import Traffic
from tests.helpers import tiny_artifact, tiny_onnx, write_model

NAME = "deploy-test"
QUICK = {"interval_seconds": 3.0, "bake_seconds": 3.0, "poll_seconds": 0.5}
TRIGGERS = Triggers(min_requests=10)


def model(path: Path, sharpness: float) -> str:
    """The tiny classifier at another sharpness: 8 is a good candidate, 0.1 an unsure one (top probability ~0.57)."""
    data = tiny_onnx(sharpness=sharpness)
    tiny = tiny_artifact()
    manifest = type(tiny.manifest)(
        **{**tiny.manifest.__dict__, "model_sha256": sha256(data), "training_job": f"s{sharpness}"}
    )
    return str(write_model(path, Artifact(manifest=manifest, onnx=data)))


@pytest.fixture
def endpoint(settings: Settings, model_file: Path) -> Iterator[str]:
    config = endpoint_config(settings, name=NAME, port=0, workers=2)
    yield registry.deploy(settings, config, str(model_file), timeout=60).url
    registry.delete(settings, NAME)


def phases(record: deployments.DeploymentRecord) -> list[str]:
    return [p["phase"] for p in record.phases]


def test_a_bad_candidate_rolls_itself_back_with_no_failed_request(
    settings: Settings, tmp_path: Path, endpoint: str
) -> None:
    bad = model(tmp_path / "unsure.tar.gz", 0.1)
    before = registry.describe(settings, NAME).config["model_sha256"]
    with Traffic(endpoint, clients=8) as traffic:
        traffic.wait_for(20)
        started = time.monotonic()
        done = deploy_model(settings, NAME, bad, Strategy("canary", 25, **QUICK), TRIGGERS)
        ended = time.monotonic()
        traffic.wait_for(40, after=ended)
    assert traffic.failures == []
    assert done.status == "RolledBack" and phases(done) == ["Started", "Canary", "RolledBack"]
    rolled = done.phases[-1]
    assert rolled["trigger"] == "low_confidence"
    assert (
        rolled["figures"]["candidate"]["low_confidence_rate"] > 0.9
        and rolled["figures"]["old"]["low_confidence_rate"] < 0.1
    )
    assert ended - started < QUICK["interval_seconds"] + 15  # within the canary window (plus the shifts themselves)
    after = traffic.since(ended)
    assert {a.variant for a in after} == {"AllTraffic"} and {a.label for a in after} == {0}
    described = registry.describe(settings, NAME)
    assert described.config["model_sha256"] == before and [v["name"] for v in described.config["variants"]] == [
        "AllTraffic"
    ]
    assert [d.status for d in deployments.history(settings, NAME)] == ["RolledBack"]


@pytest.mark.parametrize(("strategy", "expected"), [
    (Strategy("canary", 20, **QUICK), ["Started", "Canary", "Baking", "Completed"]),
    (Strategy("linear", linear_step=34, **QUICK), ["Started", "Shifting", "Shifting", "Baking", "Completed"]),
])  # fmt: skip
def test_a_good_candidate_completes_with_no_failed_request(
    settings: Settings, tmp_path: Path, endpoint: str, strategy: Strategy, expected: list[str]
) -> None:
    good = model(tmp_path / "sharper.tar.gz", 8.0)
    with Traffic(endpoint, clients=8) as traffic:
        traffic.wait_for(20)
        done = deploy_model(settings, NAME, good, strategy, TRIGGERS)
        ended = time.monotonic()
        traffic.wait_for(40, after=ended)
    assert traffic.failures == []
    assert done.status == "Completed" and phases(done) == expected, done.phases
    assert {a.variant for a in traffic.answers} == {"AllTraffic", "Candidate"}  # both served during the shift
    assert {a.variant for a in traffic.since(ended)} == {"AllTraffic"}  # the old name now serves the new model
    described = registry.describe(settings, NAME)
    assert described.model == good and [v["name"] for v in described.config["variants"]] == ["AllTraffic"]


def test_a_deployment_stopped_by_hand_rolls_back(settings: Settings, tmp_path: Path, endpoint: str) -> None:
    good = model(tmp_path / "sharper.tar.gz", 8.0)
    result: list[deployments.DeploymentRecord] = []
    slow = Strategy("canary", 50, interval_seconds=60, bake_seconds=60, poll_seconds=0.25)
    with Traffic(endpoint, clients=8) as traffic:
        runner = threading.Thread(target=lambda: result.append(deploy_model(settings, NAME, good, slow, TRIGGERS)))
        runner.start()
        deadline = time.monotonic() + 30
        while not any(d.phases[-1]["phase"] == "Canary" for d in deployments.history(settings, NAME)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with pytest.raises(EndpointError, match="in progress"):
            deploy_model(settings, NAME, good, slow, TRIGGERS)  # one deployment at a time
        deployments.stop(settings, NAME)
        runner.join(60)
    assert traffic.failures == []
    assert result and result[0].status == "RolledBack" and result[0].phases[-1]["trigger"] == "manual"
    with pytest.raises(EndpointError, match="No deployment is in progress"):
        deployments.stop(settings, NAME)


def test_a_candidate_that_answers_otherwise_is_rolled_back_on_disagreement(
    settings: Settings, tmp_path: Path, endpoint: str
) -> None:
    """Sharpness -8 swaps the classes with full confidence: only the mirrored comparison can see it."""
    swapped = model(tmp_path / "swapped.tar.gz", -8.0)
    triggers = Triggers(min_requests=10, compare_share=0.5, max_disagreement=0.2, min_comparisons=10)
    with Traffic(endpoint, clients=8) as traffic:
        traffic.wait_for(20)
        done = deploy_model(settings, NAME, swapped, Strategy("canary", 25, **QUICK), triggers)
        ended = time.monotonic()
        traffic.wait_for(20, after=ended)
    assert traffic.failures == []
    assert phases(done) == ["Started", "Canary", "RolledBack"], done.phases
    rolled = done.phases[-1]
    candidate = rolled["figures"]["candidate"]
    assert rolled["trigger"] == "disagreement" and candidate["disagreement_rate"] == 1.0
    assert candidate["compared"] >= 10 and candidate["low_confidence_rate"] < 0.1
    assert {a.label for a in traffic.since(ended)} == {0}  # the old model answers again


def test_a_check_that_fires_rolls_back_with_its_figures(settings: Settings, tmp_path: Path, endpoint: str) -> None:
    """The caller's checks (the CLI's monitor run) run at the end of each judged window, on the candidate."""
    good = model(tmp_path / "sharper.tar.gz", 8.0)
    seen: list[tuple[str, str]] = []

    def violation(variant: str, since: str) -> tuple[str, dict[str, object]]:
        seen.append((variant, since))
        return "monitor_violation", {"violations": 1}

    with Traffic(endpoint, clients=8) as traffic:
        traffic.wait_for(20)
        done = deploy_model(settings, NAME, good, Strategy("canary", 25, **QUICK), TRIGGERS, checks=[violation])
    assert traffic.failures == []
    assert phases(done) == ["Started", "Canary", "RolledBack"]
    assert done.phases[-1]["trigger"] == "monitor_violation" and done.phases[-1]["figures"] == {"violations": 1}
    assert seen and seen[0][0] == "Candidate" and seen[0][1] >= done.phases[0]["at"]


def test_strategy_refusals() -> None:
    with pytest.raises(ConfigError, match="not one of all-at-once, canary, linear"):
        Strategy("blue")
    with pytest.raises(ConfigError, match="--canary-percent is 0"):
        Strategy("canary", canary_percent=0)
    with pytest.raises(ConfigError, match="--linear-step is 100"):
        Strategy("linear", linear_step=100)
    assert Strategy("linear", linear_step=25).shares() == [25, 50, 75]


def test_one_deployment_at_a_time_is_enforced_by_the_database(settings: Settings) -> None:
    """16 racing claims on one endpoint (each its own connection): exactly one wins; others may claim after it ends."""
    from contextlib import closing

    from scones.endpoint import table

    def record(i: int, name: str = NAME) -> deployments.DeploymentRecord:
        return deployments.DeploymentRecord(f"race{i}", name, "canary", "InProgress", "m", [], [], "t", "t")

    barrier, won, errors = threading.Barrier(16, timeout=60), [], []

    def claim(i: int) -> None:
        try:
            with closing(table.connect(settings)) as conn:
                barrier.wait()
                if table.claim_deployment(conn, record(i)):
                    won.append(i)
        except BaseException as exc:  # a racer that dies breaks the barrier: the others fail, not hang
            barrier.abort()
            errors.append(exc)

    racers = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert errors == []
    assert len(won) == 1
    with closing(table.connect(settings)) as conn:
        assert table.claim_deployment(conn, record(99, "another-endpoint"))  # other endpoints are not held
        table.put_deployment(conn, replace(record(won[0]), status="Completed"))
        assert table.claim_deployment(conn, record(100))  # free again once the first ended


def test_a_deployment_killed_mid_way_is_rolled_back_by_the_next_command(
    settings: Settings, tmp_path: Path, endpoint: str
) -> None:
    good = model(tmp_path / "sharper.tar.gz", 8.0)
    command = [sys.executable, "-m", "scones.cli", "--home", str(settings.home), "--bucket", settings.bucket,
               "--storage", settings.storage, "update-endpoint", NAME, "--model", good, "--strategy", "canary",
               "--canary-percent", "50", "--interval-seconds", "120", "--bake-seconds", "120"]  # fmt: skip
    with Traffic(endpoint, clients=8) as traffic:
        runner = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": "src"}, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not any(d.phases[-1]["phase"] == "Canary" for d in deployments.history(settings, NAME)):
                assert time.monotonic() < deadline and runner.poll() is None
                time.sleep(0.2)
        finally:
            runner.kill()  # SIGKILL: no handler runs, the split stays half-shifted
            runner.wait()
        assert [v["name"] for v in registry.describe(settings, NAME).config["variants"]] == ["AllTraffic", "Candidate"]
        (found,) = deployments.history(settings, NAME)  # the next command sees the dead process and rolls back
        recovered = time.monotonic()
        traffic.wait_for(20, after=recovered)
    assert traffic.failures == []
    assert found.status == "RolledBack" and [p["phase"] for p in found.phases] == [
        "Started", "Canary", "Recovering", "RolledBack"
    ]  # fmt: skip
    assert found.phases[-1]["trigger"] == "interrupted" and found.phases[-1]["figures"] == {
        "dead_pid": runner.pid, "interrupted_in": "Canary"
    }  # fmt: skip
    assert [v["name"] for v in registry.describe(settings, NAME).config["variants"]] == ["AllTraffic"]
    assert {a.variant for a in traffic.since(recovered)} == {"AllTraffic"}
    assert deployments.recover(settings, NAME) == []  # resolved once


@pytest.mark.slow
def test_the_monitor_trigger_runs_the_monitor_on_the_candidates_captured_window(
    settings: Settings, tmp_path: Path, model_file: Path
) -> None:
    """The real monitor (baseline from staged images, a recorded run on the candidate's own captures):
    more violations than allowed roll back with the run's figures; a high enough allowance completes."""
    from scones.monitor import runs
    from scones.monitor.deployment_check import monitor_check
    from scones.monitor.service import BaselineRequest, make_baseline
    from scones.storage import Store
    from tests.helpers import png_bytes

    store = Store(settings)
    colours = [(230, 20, 20), (20, 20, 230), (200, 40, 30), (30, 40, 210), (128, 128, 128), (220, 30, 60)]
    for split in ("train", "test"):
        lines = []
        for i, colour in enumerate(colours):
            store.put(settings.bucket, f"data/{split}/c{i}.png", png_bytes(colour))
            lines.append(f"{i}\t{int(colour[2] > colour[0])}\tc{i}.png\n")
        store.put(settings.bucket, f"data/{split}.lst", "".join(lines).encode())
    config = endpoint_config(settings, name=NAME, port=0, workers=1, capture_percent=100)
    url = registry.deploy(settings, config, str(model_file), timeout=60).url
    try:
        make_baseline(settings, store, BaselineRequest(endpoint=NAME))
        quiet = Triggers(min_requests=10, compare_share=0.0, max_low_confidence_increase=1.0)
        strategy = Strategy("canary", 25, interval_seconds=3, bake_seconds=1, poll_seconds=0.5)
        swapped = model(tmp_path / "swapped.tar.gz", -8.0)  # every red image now "motorcycle"
        with Traffic(url, clients=8) as traffic:
            traffic.wait_for(20)
            strict = monitor_check(settings, NAME, 0, settle_seconds=6)
            done = deploy_model(settings, NAME, swapped, strategy, quiet, checks=[strict])
            lenient = monitor_check(settings, NAME, 99, settle_seconds=6)
            completed = deploy_model(settings, NAME, swapped, strategy, quiet, checks=[lenient])
        assert traffic.failures == []
    finally:
        registry.delete(settings, NAME)
    assert phases(done) == ["Started", "Canary", "RolledBack"], done.phases
    rolled = done.phases[-1]
    assert rolled["trigger"] == "monitor_violation" and rolled["figures"]["violations"]
    assert rolled["figures"]["records"] > 0 and rolled["figures"]["max_violations"] == 0
    recorded = {e.run_id: e for e in runs.executions(settings, NAME)}
    assert rolled["figures"]["run_id"] in recorded  # a monitoring run like any other
    assert completed.status == "Completed"
