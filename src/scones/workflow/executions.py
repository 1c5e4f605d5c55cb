"""Start executions of a state machine, as Step Functions does, with two execution types.

EXPRESS runs in this process and keeps its history in a log file (`records.append_log`).
STANDARD is durable: each execution is a DBOS workflow and each Lambda call a DBOS step
(`scones.workflow.durable`), so after a crash or restart unfinished executions resume
without re-running the steps that had finished; its history is kept in the database.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from scones import state
from scones.config import Settings
from scones.errors import WorkflowError
from scones.functions import runtime
from scones.workflow import engine, machines, records
from scones.workflow.records import Execution

ExecutionType = Literal["EXPRESS", "STANDARD"]
TYPES = ("EXPRESS", "STANDARD")


def execution_arn(settings: Settings, machine: str, name: str, type_: str) -> str:
    kind = "express" if type_ == "EXPRESS" else "execution"
    return f"arn:aws:states:{settings.region}:{engine.ACCOUNT}:{kind}:{machine}:{name}"


def task_call(settings: Settings, bindings: dict[str, str]) -> engine.TaskCall:
    """A task call that runs the bound scones function the way Lambda would, configured from `settings`."""
    config = runtime.config_from(settings)

    def call(function: str, payload: Any) -> dict[str, Any]:
        return runtime.invoke(_bound(bindings, function), payload, config=config)

    return call


def _bound(bindings: dict[str, str], function: str) -> str:
    if function not in bindings:
        from botocore.exceptions import ClientError

        # What Lambda answers for an unknown function; the interpreter names it Lambda.ResourceNotFoundException.
        raise ClientError(
            {
                "Error": {"Code": "ResourceNotFoundException", "Message": f"Function not found: {function}"},
                "ResponseMetadata": {"HTTPStatusCode": 404, "RequestId": str(uuid.uuid4())},
            },
            "Invoke",
        )
    return bindings[function]


def start(
    settings: Settings,
    machine_name: str,
    execution_input: Any,
    *,
    name: str | None = None,
    type_: str = "STANDARD",
) -> Execution:
    """Start an execution and run it to its end; return its record."""
    return run(settings, prepare(settings, machine_name, execution_input, name=name, type_=type_))


def prepare(
    settings: Settings,
    machine_name: str,
    execution_input: Any,
    *,
    name: str | None = None,
    type_: str = "STANDARD",
    machine: machines.StateMachine | None = None,
) -> Execution:
    """Record a new execution as RUNNING (owned by this process) without running it yet.

    Batches record every execution first, so after a crash `scones workflow worker` also
    starts the STANDARD ones the dead runner had not reached. EXPRESS executions are recorded
    once, when they end (they are not durable; on AWS they live only in logs).
    """
    if type_ not in TYPES:
        raise WorkflowError(f"Unknown execution type {type_!r}; choose EXPRESS or STANDARD")
    if machine is None or machine.name != machine_name:
        machine = machines.get(settings, machine_name)
    name = machines.validate_name(name or str(uuid.uuid4()), "execution")
    execution = Execution(
        arn=execution_arn(settings, machine.name, name, type_),
        name=name,
        state_machine=machine.name,
        type=type_,
        status="RUNNING",
        input=json.dumps(execution_input, separators=(",", ":")),
        output=None,
        error=None,
        cause=None,
        started=state.now(),
        stopped=None,
        duration_ms=None,
    )
    if type_ == "STANDARD":
        records.insert(settings, execution)
    return execution


def run(
    settings: Settings, execution: Execution, *, record: bool = True, machine: machines.StateMachine | None = None
) -> Execution:
    """Run a prepared execution to its end; return its final record (an EXPRESS one is stored only
    if `record`: run-testcases stores its EXPRESS records itself, in batches). A batch passes the
    `machine` it looked up once; otherwise it is read from the state database."""
    if execution.type == "EXPRESS":
        return run_express(settings, execution, record=record, machine=machine)
    else:
        from scones.workflow import durable, workers

        if workers.uses_queue(settings):  # Postgres: a 'scones workflow worker' runs it
            workers.run(settings, execution)
        else:
            durable.run(settings, execution.arn)
    return records.get(settings, execution.arn)


def run_express(
    settings: Settings, execution: Execution, *, record: bool = True, machine: machines.StateMachine | None = None
) -> Execution:
    """Run an EXPRESS execution in this thread, log its history and (if `record`) store how it ended."""
    if machine is None or machine.name != execution.state_machine:
        machine = machines.get(settings, execution.state_machine)
    outcome = engine.run(
        machine.definition,
        json.loads(execution.input or "null"),
        task_call(settings, machine.bindings),
        execution_arn=execution.arn,
        state_machine_arn=machine.arn,
        express=True,
    )
    stopped = state.now()
    started = datetime.fromisoformat(execution.started.replace("Z", "+00:00"))
    final = replace(
        execution,
        status=outcome.status,
        output=None if outcome.output is None else json.dumps(outcome.output),
        error=outcome.error,
        cause=outcome.cause,
        stopped=stopped,
        duration_ms=(datetime.fromisoformat(stopped.replace("Z", "+00:00")) - started).total_seconds() * 1000,
    )
    records.append_log(settings, machine.name, execution.arn, outcome.events)
    if record:
        records.insert(settings, final)
    return final


def run_standard_body(
    settings: Settings, arn: str, make_call: Callable[[dict[str, str]], engine.TaskCall]
) -> engine.Outcome:
    """The body of a STANDARD execution, given how to make its (durable) task calls from the bindings."""
    execution = records.get(settings, arn)
    machine = machines.get(settings, execution.state_machine)
    outcome = engine.run(
        machine.definition,
        json.loads(execution.input or "null"),
        make_call(machine.bindings),
        execution_arn=arn,
        state_machine_arn=machine.arn,
    )
    records.finish(settings, arn, outcome.status, outcome.output, outcome.error, outcome.cause, outcome.events)
    return outcome


def timed_invoke(settings: Settings, arn: str, function: str, payload: Any) -> dict[str, Any]:
    """Run one task of a STANDARD execution and record it as a step."""
    started = time.perf_counter()
    response = runtime.invoke(function, payload, config=runtime.config_from(settings))
    failed = "FunctionError" in response
    error = response["Payload"].get("errorType") if failed and isinstance(response["Payload"], dict) else None
    records.add_step(
        settings, arn, function, "FAILED" if failed else "SUCCEEDED", error, (time.perf_counter() - started) * 1000
    )
    return response
