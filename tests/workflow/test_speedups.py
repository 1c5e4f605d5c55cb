"""The interpreter speed-ups compute what moto's own code computes, and timeouts still fire."""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import logging
import threading
import time
from datetime import datetime
from typing import Any

import pytest

from scones.workflow import engine, speedups
from tests.workflow.test_engine import run, task

# sha256 of moto 5.2.5's Program.eval and ExecutionState._evaluate_with_timeout: speedups.py
# mirrors them; if an upgrade changes either, re-read it and update the mirror and these.
PINNED = {
    "eval": "6d701880064a8970c3a40375b8708af4ea22b6054dd6ac2fe9be295270b62f2b",
    "_evaluate_with_timeout": "c56deda08a42e98d3958bfb2ab95de74c7ec7a515085614a80e1ea4948722485",
}


def test_contract_the_replaced_methods_are_the_ones_mirrored() -> None:
    engine.install()
    for original in (speedups._original_program_eval, speedups._original_evaluate_with_timeout):
        digest = hashlib.sha256(inspect.getsource(original).encode()).hexdigest()
        assert digest == PINNED[original.__name__], f"moto changed {original.__qualname__}"
    from moto.stepfunctions.parser.asl.eval import states

    assert states.copy.deepcopy is speedups.json_copy


def test_json_copy_equals_deepcopy_and_shares_nothing_mutable() -> None:
    value = {"a": [1, 2.5, {"b": None, "c": True}], "d": "text", "e": []}
    copied = speedups.json_copy(value)
    assert copied == copy.deepcopy(value)
    copied["a"][2]["b"] = "changed"
    assert value["a"][2]["b"] is None
    other = {"when": datetime(2026, 1, 1), "pair": (1, [2])}  # not JSON: falls back to deepcopy
    assert speedups.json_copy(other) == other and speedups.json_copy(other)["pair"][1] is not other["pair"][1]


def _shapes(definition: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run a definition once inline and once through moto's threaded path (a declared timeout)."""
    handlers = {
        "f": lambda event, context: {"seen": event, "n": 3},
        "fails": lambda event, context: (_ for _ in ()).throw(ValueError("no")),
    }
    results = []
    for timeout in (None, 300):
        body = json.loads(json.dumps(definition))
        if timeout:
            body["TimeoutSeconds"] = timeout
            for state in body["States"].values():
                if state["Type"] == "Task":
                    state["TimeoutSeconds"] = timeout
        outcome = run(body, handlers, {"x": [1, {"y": 2}]})
        results.append((outcome.status, outcome.output, outcome.error, [e["type"] for e in outcome.events]))
    return results


def test_inline_and_threaded_paths_give_the_same_outputs_and_history() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                **task("f", ResultSelector={"got.$": "$.Payload.seen", "n.$": "$.Payload.n"}, ResultPath="$.r"),
                "OutputPath": "$",
                "Next": "B",
            },
            "B": {"Type": "Pass", "Parameters": {"n.$": "$.r.n", "x.$": "$.x"}, "Next": "C"},
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericEquals": 3, "Next": "D"}],
                "Default": "E",
            },
            "D": task(
                "fails",
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "E"}],
                Next="E",
            ),
            "E": {"Type": "Pass", "End": True},
        },
    }
    inline, threaded = _shapes(definition)
    assert inline == threaded
    assert inline[0] == "SUCCEEDED" and inline[1]["x"] == [1, {"y": 2}] and "err" in inline[1]


def test_no_thread_is_started_when_nothing_can_time_out() -> None:
    engine.install()
    started: list[int] = []
    real_start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(1)
        real_start(self)

    definition = {"StartAt": "A", "States": {"A": task("f", Next="B"), "B": task("f", End=True)}}
    threading.Thread.start = counting_start  # type: ignore[method-assign]
    try:
        outcome = run(definition, {"f": lambda e, c: e})
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
    assert outcome.status == "SUCCEEDED" and started == []


@pytest.mark.parametrize("where", ["task", "program"])
def test_a_declared_timeout_still_fires_while_the_task_hangs(where: str) -> None:
    def slow(event: Any, context: Any) -> Any:
        time.sleep(3)
        return event

    state = task("slow", End=True, **({"TimeoutSeconds": 1} if where == "task" else {}))
    definition: dict[str, Any] = {"StartAt": "A", "States": {"A": state}}
    if where == "program":
        definition["TimeoutSeconds"] = 1
    began = time.perf_counter()
    outcome = run(definition, {"slow": slow})
    assert time.perf_counter() - began < 2.5  # the execution did not wait for the hanging task
    expected = ("FAILED", "States.Timeout") if where == "task" else ("TIMED_OUT", "States.Timeout")
    assert (outcome.status, outcome.error) == expected


def test_failure_logs_are_skipped_while_silenced_and_written_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    def boom(event: Any, context: Any) -> Any:
        raise ValueError("bad")

    definition = {"StartAt": "A", "States": {"A": task("boom", End=True)}}
    logger = logging.getLogger("moto.stepfunctions.parser")
    run(definition, {"boom": boom})
    assert not [r for r in caplog.records if r.name.startswith("moto")]
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with caplog.at_level(logging.ERROR, logger="moto.stepfunctions.parser"):
            assert run(definition, {"boom": boom}).error == "ValueError"
    finally:
        logger.setLevel(level)
    assert any("FailureEventException" in r.getMessage() for r in caplog.records)


def test_map_and_parallel_give_the_same_outputs_on_both_paths() -> None:
    branch = {"StartAt": "T", "States": {"T": task("f", End=True)}}
    definition = {
        "StartAt": "M",
        "States": {
            "M": {"Type": "Map", "ItemsPath": "$.x", "ItemProcessor": branch, "ResultPath": "$.mapped", "Next": "P"},
            "P": {"Type": "Parallel", "Branches": [branch, branch], "End": True},
        },
    }
    inline, threaded = _shapes(definition)
    # moto runs Parallel branches in threads of their own, so their events interleave differently
    # from run to run: the same events, in any order.
    assert inline[:3] == threaded[:3] and sorted(inline[3]) == sorted(threaded[3]) and inline[0] == "SUCCEEDED"
    assert inline[1][0]["seen"]["mapped"][0] == {"seen": 1, "n": 3}
