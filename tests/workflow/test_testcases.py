from __future__ import annotations

import json
from typing import Any

import pytest

from scones.config import Settings
from scones.errors import WorkflowError
from scones.storage import Store
from scones.workflow import testcases


def test_generate_is_the_seeds_shape_and_seeded(store: Store, images: dict[str, str]) -> None:
    cases = testcases.generate(store, 20, seed=7)
    assert cases == testcases.generate(store, 20, seed=7)
    assert {c["s3_key"] for c in cases} <= set(images.values())
    assert all(c == {"image_data": "", "s3_bucket": "scones", "s3_key": c["s3_key"]} for c in cases)


def test_generate_needs_images(store: Store) -> None:
    with pytest.raises(WorkflowError, match="scones stage"):
        testcases.generate(store, 1)
    with pytest.raises(WorkflowError, match="--count"):
        testcases.generate(store, 0)


def test_run_summarises_successes_and_failures_by_error(
    settings: Settings, store: Store, images: dict[str, str], endpoint: Any, pipeline: Any
) -> None:
    inputs = [{"s3_bucket": "scones", "s3_key": images[c]} for c in ("red", "grey", "blue", "grey")]
    inputs.append({"s3_bucket": "scones", "s3_key": "data/test/missing.png"})
    summary = testcases.run(settings, "pipeline", inputs, concurrency=3)
    assert summary.executions == 5 and summary.succeeded == 2
    assert summary.failed == {"ThresholdConfidenceNotMet": 2, "ImageNotFound": 1}
    assert set(summary.latency_ms) == {"p50", "p90", "p99", "max"}
    assert summary.to_dict()["examples"]["ImageNotFound"].startswith("arn:aws:states:")


def test_percentiles() -> None:
    assert testcases.percentiles([]) == {}
    assert testcases.percentiles([float(i) for i in range(1, 101)])["p50"] == 51.0


def test_express_runs_spread_over_processes_match_one_process(
    settings: Settings, store: Store, images: dict[str, str], endpoint: Any, pipeline: Any
) -> None:
    from scones.workflow import records

    inputs = [{"s3_bucket": "scones", "s3_key": images[c]} for c in ("red", "grey", "blue") * 8]
    one = testcases.run(settings, "pipeline", inputs, concurrency=4, processes=1)
    two = testcases.run(settings, "pipeline", inputs, concurrency=4, processes=2)
    assert (one.executions, one.succeeded, one.failed) == (24, 16, {"ThresholdConfidenceNotMet": 8})
    assert (two.executions, two.succeeded, two.failed) == (one.executions, one.succeeded, one.failed)
    assert len(records.list_for(settings, "pipeline", limit=1000)) == 48  # the runners recorded theirs
    lines = records.log_path(settings, "pipeline").read_text().splitlines()
    assert len({json.loads(line)["executionArn"] for line in lines}) == 48  # whole lines, none interleaved


def test_a_runner_that_fails_is_a_one_line_error(settings: Settings, pipeline: Any) -> None:
    from dataclasses import replace

    execution = testcases.executions.prepare(settings, "pipeline", {}, type_="EXPRESS")
    gone = [replace(execution, state_machine="deleted-meanwhile")] * 2
    with pytest.raises(
        WorkflowError, match="runner process failed: WorkflowError: No state machine 'deleted-meanwhile'"
    ):
        testcases._in_processes(settings, pipeline, gone, 2, 2, lambda n: None)


def test_a_runner_killed_midway_is_a_one_line_error(
    settings: Settings, store: Store, images: dict[str, str], endpoint: Any, pipeline: Any
) -> None:
    import multiprocessing
    import os
    import signal
    import threading
    import time

    event = {"s3_bucket": "scones", "s3_key": images["red"]}
    prepare = testcases.executions.prepare
    prepared = [prepare(settings, "pipeline", event, type_="EXPRESS", machine=pipeline) for _ in range(2000)]
    raised: list[BaseException] = []

    def run() -> None:
        try:
            testcases._in_processes(settings, pipeline, prepared, 2, 1, lambda n: None)
        except BaseException as exc:  # noqa: BLE001 - checked below
            raised.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 30
    while not multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    for child in multiprocessing.active_children():
        os.kill(child.pid or 0, signal.SIGKILL)
    runner.join(timeout=30)
    assert len(raised) == 1 and isinstance(raised[0], WorkflowError), raised
    assert "executions did not report: a runner process ended early (exit codes -9)" in str(raised[0])


def test_each_runs_every_item_once_and_stops_at_a_failure() -> None:
    seen: list[int] = []
    testcases._each(range(50), 4, seen.append)
    assert sorted(seen) == list(range(50))

    taken: list[int] = []

    def fail_at_3(item: int) -> None:
        taken.append(item)
        if item == 3:
            raise ValueError("three")

    with pytest.raises(ValueError, match="three"):
        testcases._each(range(50), 1, fail_at_3)
    assert taken == [0, 1, 2, 3]  # nothing taken after the failure


def test_a_batch_reads_its_state_machine_once(
    settings: Settings, stubs: dict[str, list[Any]], pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scones.workflow import machines

    reads: list[str] = []
    original = machines.get

    def counting_get(settings: Settings, name: str) -> machines.StateMachine:
        reads.append(name)
        return original(settings, name)

    monkeypatch.setattr(machines, "get", counting_get)
    inputs = [{"s3_bucket": "scones", "s3_key": f"data/test/{i}.png"} for i in range(5)]
    summary = testcases.run(settings, "pipeline", inputs, concurrency=2)
    assert summary.succeeded == 5 and reads == ["pipeline"]


def test_stand_ins_keep_the_default_in_this_process(
    settings: Settings, stubs: dict[str, list[Any]], pipeline: Any
) -> None:
    inputs = [{"s3_bucket": "scones", "s3_key": f"data/test/{i}.png"} for i in range(6)]
    summary = testcases.run(settings, "pipeline", inputs, concurrency=4)
    assert summary.succeeded == 6 and len(stubs["filter_inferences"]) == 6  # the stand-ins ran, here


def test_bad_process_counts_are_refused(settings: Settings, pipeline: Any) -> None:
    with pytest.raises(WorkflowError, match="--processes must be at least 1"):
        testcases.run(settings, "pipeline", [{}], processes=0)
