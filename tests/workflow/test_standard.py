"""STANDARD executions: the refusal of Map/Parallel, and finishing executions whose runner died (SQLite)."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import pytest

from scones.config import Settings
from scones.errors import WorkflowError
from scones.workflow import executions, machines, records, standard
from tests.workflow.conftest import DEFINITIONS

PARALLEL = (DEFINITIONS / "parallel.asl.json").read_text()  # one Parallel state of Lambda tasks


def _dead_runner() -> str:
    """A runner ID on this host whose process has exited."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return f"{socket.gethostname()}:{gone.pid}:deadbeef"


def _orphan(settings: Settings, name: str, machine: str = "pipeline") -> records.Execution:
    """A STANDARD execution recorded as RUNNING by a runner that died before running it."""
    execution = executions.prepare(settings, machine, {"s3_bucket": "scones", "s3_key": name}, name=name)
    records.connect(settings).execute("UPDATE executions SET runner=? WHERE arn=?", (_dead_runner(), execution.arn))
    return execution


def test_branches_are_refused_and_the_execution_recorded_failed(settings: Settings) -> None:
    machines.create(settings, "par", PARALLEL)
    execution = executions.prepare(settings, "par", {"inferences": [1.0]}, type_="STANDARD")
    with pytest.raises(WorkflowError, match="Map or Parallel.*--type EXPRESS"):
        standard.run(settings, execution)
    ended = records.get(settings, execution.arn)
    assert (ended.status, ended.error, ended.cause) == ("FAILED", "States.Runtime", "Map/Parallel need EXPRESS locally")
    assert records.steps(settings, execution.arn) == []  # refused before any task ran


def test_resume_orphans_starts_those_never_started_and_leaves_live_ones(
    settings: Settings, pipeline: Any, stubs: dict[str, list[Any]]
) -> None:
    orphan = _orphan(settings, "orphan")
    live = executions.prepare(settings, "pipeline", {}, name="live")  # this process runs it: not an orphan
    assert standard.resume_orphans(settings, concurrency=2) == [orphan.arn]
    finished = records.get(settings, orphan.arn)
    assert finished.status == "SUCCEEDED" and finished.runner == records.RUNNER_ID
    assert [s["function"] for s in records.steps(settings, orphan.arn)] == [
        "serialize_image_data",
        "classify_image",
        "filter_inferences",
    ]
    assert records.get(settings, live.arn).status == "RUNNING"
    assert standard.worker(settings) == []  # what `scones workflow worker` does on SQLite: nothing left


def test_an_orphan_with_branches_is_refused_on_resume(settings: Settings) -> None:
    machines.create(settings, "par", PARALLEL)
    orphan = _orphan(settings, "par-orphan", machine="par")
    with pytest.raises(WorkflowError, match="--type EXPRESS"):
        standard.resume_orphans(settings)
    assert records.get(settings, orphan.arn).status == "FAILED"
