"""STANDARD executions made durable with DBOS in this process (the SQLite backend).

Each execution is a DBOS workflow whose ID is the execution ARN, and each Lambda call the
interpreter makes is a DBOS step. After a crash, the workflow replays: the interpreter runs
again from the start, and every task call that had finished returns its recorded response
instead of running again, so the execution continues where it stopped. A task runs in the
workflow's thread unless it declares TimeoutSeconds, when the interpreter gives it a thread of
its own; either way the workflow's context goes with it as a copy of its `contextvars` (one
task at a time, which is why `standard` refuses Map and Parallel).

`standard` decides when to run or resume an execution here; DBOS itself is set up by `launcher`.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

from dbos import DBOS, SetWorkflowID, StepOptions

from scones.config import Settings, load_settings
from scones.errors import WorkflowError
from scones.functions import runtime
from scones.workflow import engine, launcher, machines, records, tasks


def _step(settings: Settings, arn: str, function: str, payload: Any) -> dict[str, Any]:
    """One task of execution `arn`, recorded as a step row; its response is what DBOS checkpoints."""
    call = tasks.timed_invoke(function, payload, runtime.config_from(settings))
    records.add_step(settings, arn, call["function"], call["status"], call["error"], call["duration_ms"])
    return call["response"]


@DBOS.workflow(name="scones.execution")
def _execution(home: str, arn: str) -> str:
    # Only the home and the ARN are recorded with the workflow: a resumed one reads the rest again.
    settings = load_settings(home=home)
    context = contextvars.copy_context()  # this workflow's DBOS context, also for tasks on their own thread
    try:
        execution = records.get(settings, arn)
        machine = machines.get(settings, execution.state_machine)

        def call(function: str, payload: Any) -> dict[str, Any]:
            # A stop (records.abort, then DBOS's cancel) can land while a task runs; the record is
            # checked too, so the next task never starts even before the cancel reaches DBOS.
            if records.get(settings, arn).status == "ABORTED":
                raise WorkflowError(f"Execution {arn} was stopped")
            local = tasks.bound(machine.bindings, function)
            options: StepOptions = {"name": f"lambda:{local}"}
            response: dict[str, Any] = context.run(DBOS.run_step, options, _step, settings, arn, local, payload)
            return response

        outcome = engine.run(
            machine.definition,
            json.loads(execution.input or "null"),
            call,
            execution_arn=arn,
            state_machine_arn=machine.arn,
        )
        records.finish(settings, arn, outcome)
        return outcome.status
    except Exception as exc:  # noqa: BLE001 - whatever broke, the execution must not stay RUNNING
        failed = engine.Outcome("FAILED", error="States.Runtime", cause=f"{type(exc).__name__}: {exc}")
        records.finish(settings, arn, failed)
        return failed.status


def run(settings: Settings, arn: str) -> None:
    """Run STANDARD execution `arn` (already recorded as RUNNING) as a durable workflow in this process."""
    launcher.ensure(settings)
    try:
        with SetWorkflowID(arn):
            _execution(str(settings.home), arn)
    except Exception:
        # StopExecution cancels the workflow (its record is already ABORTED); DBOS then raises its
        # cancellation error in the waiting thread, which is the stop taking effect, not a failure.
        status = DBOS.get_workflow_status(arn)
        if status is None or status.status != "CANCELLED":
            raise


def resume(arn: str) -> bool:
    """Resume execution `arn` from its last finished step and wait for it; False if it never started."""
    if DBOS.get_workflow_status(arn) is None:
        return False
    DBOS.resume_workflow(arn).get_result(polling_interval_sec=0.1)
    return True
