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


# sha256 of the other moto 5.2.5 functions speedups.py replaces or relies on: the encoder it
# reproduces, the eval and two event-detail methods it mirrors, the payload cast it skips, the
# timestamp format it reproduces and the `get_input` whose copy it skips.
PINNED_SOURCES = {
    "EvalComponent.eval": "8573f4a8a03c562cc153ae251221468d86b3bc1172cf8280d136dccd91067af3",
    "to_json_str": "85dcb225d54020c5810a3df47d84f671d15ade5a59bcd24a4041e02dd195dc25",
    "CommonStateField._get_state_entered_event_details": "1119da614d73ab3bd0ba2f866c846627297fab6abc59eeb983e106fe22d21a5e",  # noqa: E501
    "CommonStateField._get_state_exited_event_details": "82ead97874bb6dfe201532a3f8973dd9aa3ebf18e74ea60dfc9614c600a84d6f",  # noqa: E501
    "to_payload_type": "2fbcd420cd6144482c836bd512f27ef5cf59abbd17eed079fabec1d7fa67afca",
    "iso_8601_datetime_with_milliseconds": "36456d0199774468fbc13fc9c41d5ec41de8bb79eae1ad6a2f4b1567e7c5bf14",
    "_DateTimeEncoder": "f55e8f51b7980533564153f2104339f49b6e3426ba02d35315f8ce8b9761dafb",
    "States.get_input": "d76b07a7ad724d4bce16853c42724ced0d6c2f83094e5595c7a5139cf74f0ccb",
    "States._extract": "9ab6dac771c565c5d4d70b6d83e120ea7af542f87ef6bfae9ecb7ebd5be0829d",
}


def _digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def test_contract_the_other_replaced_functions_are_the_ones_reproduced() -> None:
    engine.install()
    from moto.stepfunctions.parser.asl.eval.states import States
    from moto.stepfunctions.parser.asl.utils import encoding

    seen = {original.__qualname__: original for original in speedups.originals().values()}
    seen.update({"_DateTimeEncoder": encoding._DateTimeEncoder, "States.get_input": States.get_input})
    seen["States._extract"] = States._extract
    for name, digest in PINNED_SOURCES.items():
        assert _digest(seen[name]) == digest, f"moto changed {name}: re-read it and update speedups.py"


def test_dumps_gives_json_dumps_text_for_every_kind_of_string_and_value() -> None:
    engine.install()
    from moto.stepfunctions.parser.asl.utils.encoding import _DateTimeEncoder

    strings = ["", "plain", 'quo"te', "back\\slash", "tab\tnew\nline", "\x00\x1f\x7f", "caf\u00e9 \u2603 \U0001f600",
               "\ud800 lone", "x" * 5000, ('{"a": "' + "b" * 3000 + '"}') * 2, "A+/=" * 2000 + "\x01"]  # fmt: skip
    values: list[Any] = [*strings, {"k": strings, "n": [1, -0.0, 2.5e300, float("inf"), float("nan"), True, None]}]
    values += [{s: s for s in strings}, [[[]]], {}, 12345678901234567890]
    for _ in range(2):  # the second time every long string's escaped form is remembered
        for value in values:
            for separators in (None, (",", ":")):
                assert speedups.dumps(value, separators) == json.dumps(value, separators=separators)
    odd = {"when": datetime(2026, 1, 1), "other": object}
    assert speedups.dumps(odd, None, _DateTimeEncoder().default) == json.dumps(odd, cls=_DateTimeEncoder)
    with pytest.raises(TypeError, match="not JSON serializable"):
        speedups.dumps({"when": datetime(2026, 1, 1)})
    with pytest.raises(ValueError, match="Circular"):
        loop: list[Any] = []
        loop.append(loop)
        speedups.dumps(loop)


def test_program_states_copy_as_deepcopy_does() -> None:
    engine.install()
    from moto.stepfunctions.parser.asl.eval import program_state

    running = program_state.ProgramRunning()
    running.next_state_name = "A"
    error = program_state.ProgramError(error={"error": "E", "cause": "C"})
    for value in (running, error, program_state.ProgramEnded(), program_state.ProgramTimedOut()):
        clone = speedups.json_copy(value)
        assert type(clone) is type(value) and vars(clone) == vars(copy.deepcopy(value)) and clone is not value
    assert speedups.json_copy(error).error is not error.error


def test_payload_and_timestamp_replacements_equal_moto_s_own() -> None:
    engine.install()
    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    with speedups.disabled():
        moto_cast = lambda_eval_utils.to_payload_type
    for payload in ({"a": [1, {"b": None}], "t": (1, 2)}, [1, "x"], {1: "int key"}, {"when": datetime(2026, 1, 1)}):
        assert lambda_eval_utils.to_payload_type(payload) == json.loads(moto_cast(payload))
    for payload in (None, "text", '{"a": 1}', b"raw"):
        assert lambda_eval_utils.to_payload_type(payload) == moto_cast(payload)
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    for moment in (datetime(2026, 12, 5, 21, 0, 7, 999), datetime(999, 1, 2, 3, 4, 5, 678901), datetime.now()):
        assert event_manager.iso_8601_datetime_with_milliseconds(moment) == iso_8601_datetime_with_milliseconds(moment)


def _normalised(outcome: engine.Outcome, threads: bool = False) -> tuple[Any, ...]:
    # Map iterations run on threads of moto's own: their events interleave (and are numbered)
    # differently from run to run, so there only the events themselves are compared.
    dropped = ("timestamp", "id", "previousEventId") if threads else ("timestamp",)
    events = [{k: v for k, v in e.items() if k not in dropped} for e in outcome.events]
    return (
        outcome.status,
        outcome.output,
        outcome.error,
        outcome.cause,
        sorted(json.dumps(e, sort_keys=True) for e in events),
    )


def test_every_speedup_computes_what_moto_computes_outputs_and_histories() -> None:
    """The same definitions with the speed-ups and with moto's originals: same results, same events."""
    image = "iVBORw0KGgo" + "A+/b" * 1500  # a base64 image, as the pipeline carries
    handlers = {
        "f": lambda event, context: {"seen": event, "n": 3, "image": image, "quote": 'say "hi"\n'},
        "fails": lambda event, context: (_ for _ in ()).throw(ValueError("no")),
        "echo": lambda event, context: event,
    }
    from scones.workflow import machines

    lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:echo"
    definitions: list[dict[str, Any]] = [
        {
            "StartAt": "A",
            "States": {
                "A": task("f", ResultSelector={"s.$": "$.Payload.seen"}, ResultPath="$.r", OutputPath="$", Next="B"),
                "B": {
                    "Type": "Pass",
                    "Parameters": {"n.$": "States.ArrayLength($.x)", "c.$": "$$.State.Name"},
                    "Next": "C",
                },
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.n", "NumericEquals": 2, "Next": "D"}],
                    "Default": "E",
                },
                "D": task(
                    "fails",
                    Retry=[{"ErrorEquals": ["Nope"]}],
                    Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "E"}],
                    End=True,
                ),
                "E": {"Type": "Succeed"},
            },
        },
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Task", "Resource": lambda_arn, "InputPath": "$.x", "Next": "B"},
                "B": {
                    "Type": "Task",
                    "Resource": lambda_arn,
                    "Parameters": {"p": "text"},
                    "OutputPath": "$.p",
                    "End": True,
                },
            },
        },
        {
            "StartAt": "A",
            "States": {
                "A": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "echo", "Payload": "plain text"},
                    "End": True,
                }
            },
        },
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemsPath": "$.x",
                    "ItemProcessor": {"StartAt": "T", "States": {"T": task("f", End=True)}},
                    "Next": "F",
                },
                "F": {"Type": "Fail", "Error": "Done", "Cause": "at the end"},
            },
        },
    ]
    definitions.append(json.loads(machines.pipeline_definition()))  # the seed's pipeline, as scones runs it
    for name in ("serialize_image_data", "classify_image", "filter_inferences"):
        handlers[name] = handlers["f"]
    ends = []
    for definition in definitions:
        threads = "Map" in json.dumps(definition)
        fast = _normalised(run(definition, handlers, {"x": [1, {"y": image}]}), threads)
        with speedups.disabled():
            slow = _normalised(run(definition, handlers, {"x": [1, {"y": image}]}), threads)
        assert fast == slow
        ends.append(fast[:3:2])
    succeeded = ("SUCCEEDED", None)
    assert ends == [succeeded, succeeded, succeeded, ("FAILED", "Done"), succeeded]
