"""The local engine, including contract tests that fail if a moto upgrade changes what it patches."""

from __future__ import annotations

import inspect
import json
from importlib import metadata
from typing import Any

import pytest

from scones.errors import WorkflowError
from scones.functions import runtime
from scones.workflow import engine

ARN = "arn:aws:states:us-east-1:123456789012:execution:sm:e1"
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:sm"


def task(function: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        **extra,
    }


def run(definition: dict[str, Any], handlers: dict[str, Any], value: Any = None) -> engine.Outcome:
    def call(function: str, payload: Any) -> dict[str, Any]:
        return runtime.invoke(function, payload, handler=handlers[function])

    return engine.run(json.dumps(definition), value or {}, call, execution_arn=ARN, state_machine_arn=SM)


def test_contract_moto_is_pinned_and_the_patched_function_exists() -> None:
    assert metadata.version("moto") == "5.2.5"
    engine.install()
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    assert lambda_eval_utils._invoke_lambda_function is engine._invoke_lambda_function
    source = inspect.getsource(lambda_eval_utils.execute_lambda_function_integration)
    assert "_invoke_lambda_function(" in source and "FunctionError" in source
    params = list(inspect.signature(lambda_eval_utils._mocked_invoke_lambda_function).parameters)
    assert params == ["env"]


def test_contract_credentials_carry_the_execution_role() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task

    source = inspect.getsource(state_task.StateTask._eval_state_credentials)
    assert "env.aws_execution_details.role_arn" in source


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:lambda:eu-west-1:111122223333:function:f",
        "arn:aws:lambda:us-east-1:111122223333:function:f:$LATEST",
        "arn:aws:lambda:ap-south-1:444455556666:function:f:7",
        "arn:aws:lambda:us-east-1:111122223333:function:f:live",
    ],
)
def test_both_resource_styles_with_any_account_region_version_alias(resource: str) -> None:
    handlers = {"f": lambda event, context: {"seen": event}}
    direct = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": resource, "End": True}}}
    assert run(direct, handlers, {"x": 1}).output == {"seen": {"x": 1}}
    service = {"StartAt": "A", "States": {"A": task(resource, End=True)}}
    assert run(service, handlers, {"x": 2}).output == {"seen": {"x": 2}}


def test_retry_sees_the_lambda_error_type_then_catch_gets_error_and_cause() -> None:
    attempts: list[int] = []

    class EndpointUnavailable(Exception):
        pass

    def flaky(event: Any, context: Any) -> Any:
        attempts.append(1)
        raise EndpointUnavailable("down")

    definition = {
        "StartAt": "A",
        "States": {
            "A": task(
                "flaky",
                Retry=[{"ErrorEquals": ["EndpointUnavailable"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught", "ResultPath": "$.error"}],
                Next="Done",
            ),
            "Caught": {"Type": "Pass", "End": True},
            "Done": {"Type": "Succeed"},
        },
    }
    outcome = run(definition, {"flaky": flaky})
    assert len(attempts) == 2
    assert outcome.status == "SUCCEEDED"
    assert outcome.output["error"]["Error"] == "EndpointUnavailable"
    assert json.loads(outcome.output["error"]["Cause"])["errorMessage"] == "down"


def test_uncaught_error_fails_the_execution_with_its_name() -> None:
    def boom(event: Any, context: Any) -> Any:
        raise ValueError("bad")

    outcome = run({"StartAt": "A", "States": {"A": task("boom", End=True)}}, {"boom": boom})
    assert (outcome.status, outcome.error) == ("FAILED", "ValueError")
    assert json.loads(outcome.cause or "")["errorType"] == "ValueError"


def test_history_has_aws_shape() -> None:
    outcome = run({"StartAt": "A", "States": {"A": task("f", End=True)}}, {"f": lambda e, c: e})
    types = [e["type"] for e in outcome.events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert {"TaskStateEntered", "TaskScheduled", "TaskSucceeded", "TaskStateExited"} <= set(types)
    for i, event in enumerate(outcome.events, start=1):
        assert event["id"] == i and isinstance(event["previousEventId"], int)
        assert event["timestamp"].endswith("Z")
        details = [k for k in event if k.endswith("EventDetails")]
        assert len(details) <= 1


def test_data_limit_on_input_and_on_task_output() -> None:
    echo = {"StartAt": "A", "States": {"A": task("f", End=True)}}
    big = {"blob": "x" * 262_200}
    outcome = run(echo, {"f": lambda e, c: e}, big)
    assert (outcome.status, outcome.error) == ("FAILED", "States.DataLimitExceeded")
    outcome = run(echo, {"f": lambda e, c: {"blob": "y" * 270_000}}, {"small": 1})
    assert (outcome.status, outcome.error) == ("FAILED", "States.DataLimitExceeded")


def test_jsonata_and_other_unsupported_features_are_named() -> None:
    jsonata = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    with pytest.raises(WorkflowError, match="JSONata"):
        engine.validate(json.dumps(jsonata))
    sns = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": True}}}
    with pytest.raises(WorkflowError, match="sns:publish"):
        engine.validate(json.dumps(sns))
    creds = {"StartAt": "A", "States": {"A": task("filter_inferences", End=True, Credentials={"RoleArn": "r"})}}
    with pytest.raises(WorkflowError, match="Credentials"):
        engine.validate(json.dumps(creds))
    with pytest.raises(WorkflowError, match="Invalid state machine definition"):
        engine.validate(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Nope"}}}))


def test_jsonpath_parse_is_cached_and_threads_are_pruned() -> None:
    engine.install()
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.utils import TMP_THREADS

    definition = {"StartAt": "A", "States": {"A": task("f", End=True)}}
    for _ in range(3):
        run(definition, {"f": lambda e, c: e})
    assert json_path.parse.cache_info().hits > 0  # type: ignore[attr-defined]
    assert all(t.is_alive() for t in TMP_THREADS)


def test_contract_event_manager_keeps_its_history_list() -> None:
    engine.install()
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    assert "_history_event_list" in inspect.getsource(EventManager.__init__)


def test_other_threads_and_processes_run_a_copy_of_the_parsed_program_with_the_same_results() -> None:
    import threading

    definition = {
        "StartAt": "A",
        "States": {
            "A": task("f", Next="B"),
            "B": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 3, "Next": "C"}], "Default": "D"},
            "C": task("g", Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "E"}], Next="E"),
            "D": {"Type": "Fail", "Error": "Nope"},
            "E": {"Type": "Pass", "Result": {"ok": True}, "ResultPath": "$.pass", "End": True},
        },
    }
    handlers = {"f": lambda event, context: {"n": 3}, "g": lambda event, context: 1 / 0}

    def shape(outcome: engine.Outcome) -> tuple[Any, ...]:
        return outcome.status, outcome.output, [(e["type"], e["id"], e["previousEventId"]) for e in outcome.events]

    text = json.dumps(definition)
    here = shape(run(definition, handlers))
    elsewhere: list[Any] = []
    programs: list[Any] = []

    def in_another_thread() -> None:
        elsewhere.append(shape(run(definition, handlers)))
        programs.append(engine.parse(text))

    thread = threading.Thread(target=in_another_thread)
    thread.start()
    thread.join()
    assert programs[0] is not engine.parse(text)  # its own copy
    assert here == elsewhere[0] and here[0] == "SUCCEEDED" and here[1]["pass"] == {"ok": True}
    assert here[1]["error"]["Error"] == "ZeroDivisionError"
    # a runner process adopts the pickled program instead of parsing
    blob = engine.pickled_program(text)
    engine._pickled.pop(text)
    engine.adopt_program(text, blob)
    assert engine._pickled[text] is blob
