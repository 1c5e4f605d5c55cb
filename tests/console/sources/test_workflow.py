"""Reading executions: each state's outcome and each step's input and output from history."""

from __future__ import annotations

import json
from typing import Any

from scones.console.sources.workflow import outcomes, steps


def entered(name: str, data: Any, kind: str = "TaskStateEntered") -> dict[str, Any]:
    return {"type": kind, "stateEnteredEventDetails": {"name": name, "input": json.dumps(data)}}


def exited(name: str, data: Any) -> dict[str, Any]:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name, "output": json.dumps(data)}}


FAILED = {"type": "TaskFailed", "taskFailedEventDetails": {"error": "ThresholdConfidenceNotMet", "cause": '{"x": 1}'}}


def test_a_failed_execution_marks_the_state_it_stopped_in() -> None:
    events = [entered("a", {"i": 1}), exited("a", {"o": 1}), entered("b", {"o": 1}), FAILED]
    assert outcomes(events, "FAILED") == {"a": "succeeded", "b": "failed"}
    assert outcomes(events, "RUNNING") == {"a": "succeeded", "b": "running"}
    first, second = steps(events)
    assert (first["name"], first["input"], first["output"]) == ("a", {"i": 1}, {"o": 1})
    assert (second["error"], second["cause"], second["output"]) == ("ThresholdConfidenceNotMet", {"x": 1}, None)


def test_a_caught_error_and_a_fail_state() -> None:
    events = [entered("a", {}), FAILED, entered("Oops", {}, "FailStateEntered")]
    assert outcomes(events, "FAILED") == {"a": "failed", "Oops": "failed"}
    assert outcomes([entered("a", {}), FAILED, entered("next", {}), exited("next", {})], "SUCCEEDED") == {
        "a": "caught", "next": "succeeded"}  # fmt: skip
    assert outcomes([], "SUCCEEDED") == {} and steps([]) == []
