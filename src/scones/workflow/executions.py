"""Start executions of a state machine, as Step Functions does, with two execution types.

EXPRESS runs here, in this process, and keeps its history in a log file (`records.append_log`).
STANDARD is durable: each execution is a DBOS workflow and each Lambda call a DBOS step
(`standard` picks where it runs), so after a crash or restart unfinished executions resume
without re-running the steps that had finished; its history is kept in the database.
See docs/workflow.md.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from scones import state
from scones.config import Settings
from scones.errors import WorkflowError
from scones.workflow import engine, machines, records, speedups, tasks
from scones.workflow.records import Execution

ExecutionType = Literal["EXPRESS", "STANDARD"]
TYPES = ("EXPRESS", "STANDARD")


def execution_arn(settings: Settings, machine: str, name: str, type_: str) -> str:
    kind = "express" if type_ == "EXPRESS" else "execution"
    return f"arn:aws:states:{settings.region}:{engine.ACCOUNT}:{kind}:{machine}:{name}"


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
    from scones.workflow import standard  # DBOS takes ~1.5 s to import; EXPRESS runs never need it

    standard.run(settings, execution, machine)
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
        tasks.task_call(settings, machine.bindings),
        execution_arn=execution.arn,
        state_machine_arn=machine.arn,
        express=True,
    )
    stopped = state.now()
    started = datetime.fromisoformat(execution.started.replace("Z", "+00:00"))
    final = replace(
        execution,
        status=outcome.status,
        output=None if outcome.output is None else speedups.dumps(outcome.output),
        error=outcome.error,
        cause=outcome.cause,
        stopped=stopped,
        duration_ms=(datetime.fromisoformat(stopped.replace("Z", "+00:00")) - started).total_seconds() * 1000,
    )
    records.append_log(settings, machine.name, execution.arn, outcome.events)
    if record:
        records.insert(settings, final)
    return final
