"""Run Amazon States Language locally on moto's copy of LocalStack's v2 interpreter.

The interpreter (`moto.stepfunctions.parser`, moto pinned at 5.2.5) executes every state
type, the data-flow fields, Retry/Catch and the history; scones binds its Lambda calls to
local handlers by replacing the one function all Lambda tasks go through,
`lambda_eval_utils._invoke_lambda_function(parameters, region, state_credentials)`, for both
Resource styles. The replacement returns what `lambda.invoke` returns (including
`FunctionError: "Unhandled"` with the error document), so Retry and Catch see the same error
names as on AWS. `tests/workflow/test_engine.py` holds contract tests that fail if a moto
upgrade moves or changes that function.

`speedups.py` makes the interpreter several times faster without changing what it computes
(no thread switches where nothing can time out, cheap copies of JSON values, cached JSONPath
parses), and the interpreter's list of finished threads is pruned after every run (it only
grows otherwise).

Which execution a Lambda call belongs to travels in the execution's role ARN (the
`state_credentials` the interpreter passes along); that is why task `Credentials` are refused.
"""

from __future__ import annotations

import json
import logging
import pickle  # noqa: S403 - only programs this process or its parent parsed
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scones.errors import WorkflowError
from scones.workflow import definition as asl, speedups

DATA_LIMIT = 262_144  # bytes per state input/output, as on AWS
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/scones-states-execution"

# Called with (function name as written in the definition, decoded payload); returns a lambda.invoke response.
TaskCall = Callable[[str, Any], dict[str, Any]]

_install_lock = threading.Lock()
_installed = False
_calls: dict[str, TaskCall] = {}  # per-run role ARN -> that run's task call
_programs = threading.local()  # per-thread parsed programs: parsed components are not shared between threads
# Each definition's parsed program, pickled: a thread's own copy is unpickled from it (~0.2 ms)
# instead of parsed again (~6 ms, ~30 ms while the parser's caches are cold), and runner
# processes receive it ready-made.
_pickled: dict[str, bytes] = {}


@dataclass
class Outcome:
    """How one execution ended, with its history in AWS's event shape."""

    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


def _invoke_lambda_function(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
    """Replacement for moto's Lambda call: route it to the running execution's task call."""
    call = _calls.get(getattr(state_credentials, "role_arn", ""))
    if call is None:  # only reachable if moto changes how credentials are passed
        raise WorkflowError("A Lambda task ran outside a scones execution; is moto still 5.2.5?")
    payload = parameters.get("Payload")
    event = json.loads(payload) if isinstance(payload, bytes | str) else payload
    return call(asl.function_name(str(parameters["FunctionName"])), event)


def install() -> None:
    """Import the interpreter and bind its Lambda calls to scones (once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

        if not callable(getattr(lambda_eval_utils, "_invoke_lambda_function", None)):
            raise WorkflowError("moto's interpreter has no _invoke_lambda_function; install moto==5.2.5")
        # Failed executions are recorded as such; the interpreter's own error log would repeat them as noise.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function
        speedups.install()
        _installed = True


def parse(definition_text: str) -> Any:
    """The interpreter's program for a definition (cached per thread); WorkflowError if invalid."""
    install()
    cache: dict[str, Any] = getattr(_programs, "cache", None) or {}
    _programs.cache = cache
    if definition_text not in cache:
        pickled = _pickled.get(definition_text)
        if pickled is not None:
            cache[definition_text] = pickle.loads(pickled)  # noqa: S301 - pickled by this process or its parent
        else:
            from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

            try:
                program = AmazonStateLanguageParser.parse(definition_text)[0]
            except Exception as exc:  # noqa: BLE001 - the parser raises bare exceptions of several kinds
                raise WorkflowError(f"Invalid state machine definition: {exc}") from exc
            cache[definition_text] = program
            _pickled[definition_text] = pickle.dumps(program)
    return cache[definition_text]


def pickled_program(definition_text: str) -> bytes:
    """The parsed program for a definition, pickled, to hand to a runner process (`adopt_program`)."""
    parse(definition_text)
    return _pickled[definition_text]


def adopt_program(definition_text: str, pickled: bytes) -> None:
    """Take a program parsed by the parent process, so this one need not parse it."""
    _pickled.setdefault(definition_text, pickled)


def validate(definition_text: str, mapping: Mapping[str, str] | None = None) -> dict[str, str]:
    """Check a definition fully (static checks, interpreter parse, function bindings); return the bindings."""
    tasks = asl.check(asl.load(definition_text))
    parse(definition_text)
    return asl.bindings(tasks, mapping or {})


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return str(value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]) + "Z"
    return str(value)


def _size(value: Any) -> int:
    return len(speedups.dumps(value, (",", ":")).encode("utf-8"))


def run(
    definition_text: str,
    execution_input: Any,
    call: TaskCall,
    *,
    execution_arn: str,
    state_machine_arn: str,
    express: bool = False,
) -> Outcome:
    """Run one execution to its end in this thread; every Lambda task goes through `call`."""
    from moto.stepfunctions.parser.api import ExecutionStartedEventDetails, HistoryEventType, StateMachineType
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.evaluation_details import AWSExecutionDetails
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError, ProgramTimedOut
    from moto.stepfunctions.parser.asl.eval.states import ContextObjectData, ExecutionData, StateMachineData

    program = parse(definition_text)
    region = execution_arn.split(":")[3] or "us-east-1"
    run_role = f"{ROLE_ARN}/{uuid.uuid4().hex}"  # identifies this run to _invoke_lambda_function
    started = datetime.now(UTC)
    env = Environment(
        aws_execution_details=AWSExecutionDetails(account=ACCOUNT, region=region, role_arn=run_role),
        execution_type=StateMachineType.EXPRESS if express else StateMachineType.STANDARD,
        # moto's TypedDicts are total, yet it builds them partially itself (as here): ignore that check.
        context=ContextObjectData(  # type: ignore[typeddict-item]
            Execution=ExecutionData(
                Id=execution_arn,
                Input=execution_input,
                Name=execution_arn.rsplit(":", 1)[-1],
                RoleArn=ROLE_ARN,
                StartTime=_iso(started),
            ),
            StateMachine=StateMachineData(Id=state_machine_arn, Name=state_machine_arn.rsplit(":", 1)[-1]),
        ),
        event_history_context=EventHistoryContext.of_program_start(),
        cloud_watch_logging_session=None,
        activity_store={},
    )
    input_text = speedups.dumps(execution_input, (",", ":"))
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.ExecutionStarted,
        event_details=EventDetails(  # type: ignore[typeddict-item]
            executionStartedEventDetails=ExecutionStartedEventDetails(
                input=input_text, inputDetails={"truncated": False}, roleArn=ROLE_ARN
            )
        ),
        update_source_event_id=False,
    )
    if len(input_text.encode("utf-8")) > DATA_LIMIT:
        return _data_limit_outcome(env, len(input_text.encode("utf-8")))
    _calls[run_role] = call
    try:
        program.eval(env)
    finally:
        del _calls[run_role]
        _prune_threads()
    state = env.program_state()
    events = _events(env)
    if isinstance(state, ProgramEnded):
        output = env.states.get_input()
        return Outcome("SUCCEEDED", output=output, events=events)
    if isinstance(state, ProgramError):
        error = state.error or {}
        return Outcome("FAILED", error=error.get("error"), cause=error.get("cause"), events=events)
    if isinstance(state, ProgramTimedOut):
        return Outcome("TIMED_OUT", error="States.Timeout", events=events)
    return Outcome("ABORTED", events=events)


def _data_limit_outcome(env: Any, size: int) -> Outcome:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error = "States.DataLimitExceeded"
    cause = f"The execution input is {size} bytes, over the {DATA_LIMIT}-byte limit; pass an S3 key instead"
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.ExecutionFailed,
        event_details=EventDetails(  # type: ignore[typeddict-item]
            executionFailedEventDetails=ExecutionFailedEventDetails(error=error, cause=cause)
        ),
    )
    return Outcome("FAILED", error=error, cause=cause, events=_events(env))


def _events(env: Any) -> list[dict[str, Any]]:
    events = []
    # The run has ended, so nothing writes the list any more: read it without the deep copy that
    # get_event_history makes (a third of an execution's time).
    for event in env.event_manager._history_event_list:
        event = dict(event)
        stamp = event.get("timestamp")
        if type(stamp) is not str:  # moto stores its events' timestamps as text already
            event["timestamp"] = _iso(stamp)
        kind = event.get("type")
        name = _type_names.get(kind)
        if name is None:
            name = _type_names[kind] = str(getattr(kind, "value", kind))
        event["type"] = name
        events.append(event)
    return events


_type_names: dict[Any, str] = {}  # moto's HistoryEventType members -> their names (an enum's .value is slow)


def _prune_threads() -> None:
    from moto.stepfunctions.parser.utils import TMP_THREADS

    TMP_THREADS[:] = [t for t in TMP_THREADS if t.is_alive()]
