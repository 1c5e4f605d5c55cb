from __future__ import annotations

import json
from typing import Any

import pytest

from scones.config import Settings
from scones.errors import WorkflowError
from scones.workflow import executions, machines, records
from tests.workflow.conftest import DEFINITIONS


def test_express_history_goes_to_the_log(settings: Settings, pipeline: Any, stubs: dict[str, list[Any]]) -> None:
    execution = executions.start(settings, "pipeline", {"s3_bucket": "scones", "s3_key": "k"}, type_="EXPRESS")
    assert execution.status == "SUCCEEDED" and execution.arn.split(":")[5] == "express"
    log = records.log_path(settings, "pipeline")
    assert execution.arn in log.read_text()
    events = records.history(settings, execution)
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert not records.steps(settings, execution.arn)  # per-step records are a STANDARD feature
    assert [len(v) for v in stubs.values()] == [1, 1, 1]


def test_standard_records_history_and_steps(settings: Settings, pipeline: Any, stubs: dict[str, list[Any]]) -> None:
    execution = executions.start(
        settings, "pipeline", {"s3_bucket": "scones", "s3_key": "k"}, name="first", type_="STANDARD"
    )
    assert execution.status == "SUCCEEDED"
    assert json.loads(execution.output or "")["body"]["inferences"] == [0.99, 0.01]
    steps = records.steps(settings, execution.arn)
    assert [s["function"] for s in steps] == ["serialize_image_data", "classify_image", "filter_inferences"]
    events = records.history(settings, execution)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    described = execution.describe(pipeline.arn)
    assert described["status"] == "SUCCEEDED" and described["stateMachineArn"] == pipeline.arn
    with pytest.raises(WorkflowError, match="ExecutionAlreadyExists"):
        executions.start(settings, "pipeline", {}, name="first", type_="STANDARD")
    assert records.get(settings, "first").arn == execution.arn
    assert [e.name for e in records.list_for(settings, "pipeline", "SUCCEEDED")] == ["first"]
    assert records.list_for(settings, "pipeline", "FAILED") == []


def test_bad_requests(settings: Settings, pipeline: Any) -> None:
    with pytest.raises(WorkflowError, match="scones workflow create nope"):
        executions.start(settings, "nope", {})
    with pytest.raises(WorkflowError, match="EXPRESS or STANDARD"):
        executions.start(settings, "pipeline", {}, type_="FAST")
    with pytest.raises(WorkflowError, match="Invalid execution name"):
        executions.start(settings, "pipeline", {}, name="has space")
    with pytest.raises(WorkflowError, match="Unknown status"):
        records.list_for(settings, "pipeline", "DONE")
    with pytest.raises(WorkflowError, match="No execution"):
        records.get(settings, "missing")


def test_parallel_is_refused_for_standard_but_runs_express(settings: Settings, stubs: dict[str, list[Any]]) -> None:
    machines.create(settings, "par", (DEFINITIONS / "parallel.asl.json").read_text())
    assert executions.start(settings, "par", {"inferences": [1.0]}, type_="EXPRESS").status == "SUCCEEDED"
    with pytest.raises(WorkflowError, match="EXPRESS"):
        executions.start(settings, "par", {}, type_="STANDARD")
