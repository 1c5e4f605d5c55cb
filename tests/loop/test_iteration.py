"""`run_iteration`: the review queue refreshed, triggers checked, a version staged and a candidate judged; recorded."""

from __future__ import annotations

import time

from scones.config import Settings
from scones.loop import table
from scones.loop.iteration import due, run_iteration
from scones.loop.policy import Policy
from scones.loop.retrain import Gates
from scones.loop.versions import newest_version
from scones.monitor import runs
from scones.review import queue
from scones.storage import Store
from tests.review.support import capture

POLICY = Policy(new_labels=4, epochs=1, gates=Gates(margin=1.0), source="test")  # a margin no candidate passes


def test_an_iteration_runs_when_enough_labels_came_in_and_records_what_it_decided(
    settings: Settings, staged: Store, endpoint: str
) -> None:
    capture(staged, [0.55, 0.6, 0.52, 0.7, 0.58, 0.65], inference_ids=[f"req-{i}" for i in range(6)])
    skipped = run_iteration(settings, "ep", POLICY)
    assert skipped["status"] == "Skipped" and skipped["trigger"] == "none"
    assert "0 new label(s)" in skipped["reason"] and skipped["details"]["queued"] == 6
    queue.label_many(settings, "ep", [(f"req-{i}", i % 2) for i in range(5)], reviewer="ana")
    record = run_iteration(settings, "ep", POLICY)
    assert record["trigger"] == "labels" and "5 new label(s)" in record["details"]["why"]
    assert record["status"] == "PendingManualApproval" and "not better on reviewed-test" in record["reason"]
    assert record["details"]["dataset"]["uri"] == newest_version(settings, "ep") == "s3://scones/data-v2"
    assert sum(record["details"]["dataset"]["added"].values()) == 5
    assert record["details"]["retrain"]["candidate"]["warm_start"]
    again = run_iteration(settings, "ep", POLICY)  # the labels were used: nothing new since
    assert again["status"] == "Skipped" and "0 new label(s)" in again["reason"]
    assert [i["status"] for i in table.iterations(settings, "ep")] == ["Skipped", "PendingManualApproval", "Skipped"]


def test_a_monitoring_violation_and_the_schedule_trigger_an_iteration(
    settings: Settings, staged: Store, endpoint: str
) -> None:
    watch = Policy(monitor_violation=True)
    assert due(settings, "ep", watch)[0] is None
    runs.start(settings, "run-1", "ep", "s3://scones/capture/ep", "s3://scones/monitoring/ep/baseline", None, None)
    runs.finish(settings, "run-1", "CompletedWithViolations", records=10, violations=2)
    trigger, why = due(settings, "ep", watch)
    assert trigger == "violation" and "run-1 reported 2 violation(s)" in why
    scheduled = Policy(every_seconds=1.0)
    assert due(settings, "ep", scheduled)[0] == "schedule"  # no iteration yet
    iteration = table.start_iteration(settings, "ep", "manual")
    table.finish_iteration(settings, iteration, "PendingManualApproval", "test")
    assert due(settings, "ep", scheduled)[0] is None
    time.sleep(1.1)
    assert due(settings, "ep", scheduled)[0] == "schedule"
    assert due(settings, "ep", watch)[0] is None  # the violation came before the last iteration
