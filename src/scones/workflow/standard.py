"""STANDARD executions: which backend runs them, and what finishes them after a crash.

The one place that picks the backend. With the default SQLite database an execution runs as a
DBOS workflow in the starting process (`durable`); with a Postgres database URL it goes on a
queue that `scones workflow worker` processes share (`workers`). Either way Map and Parallel
states are refused first: a STANDARD execution replays one task at a time, and branches would
not replay faithfully (EXPRESS runs them).

After a crash `scones workflow worker` (`worker`) finishes the executions whose runner died: on
SQLite it resumes them from their last finished step, or starts those that had not started; on
Postgres DBOS recovery re-enqueues a dead worker's executions, and a worker collects those whose
starting process died.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from scones.config import Settings
from scones.errors import WorkflowError
from scones.workflow import definition as asl, durable, engine, launcher, machines, records, workers


def run(settings: Settings, execution: records.Execution, machine: machines.StateMachine | None = None) -> None:
    """Run a prepared STANDARD execution to its end on this database's backend (`machine`: its state
    machine, if the caller has it already); its record holds how it ended."""
    if machine is None or machine.name != execution.state_machine:
        machine = machines.get(settings, execution.state_machine)
    if asl.uses_branches(asl.load(machine.definition)):
        refused = engine.Outcome("FAILED", error="States.Runtime", cause="Map/Parallel need EXPRESS locally")
        records.finish(settings, execution.arn, refused)
        raise WorkflowError(
            f"State machine {machine.name!r} has Map or Parallel states, which STANDARD executions cannot replay "
            "durably here; start it with --type EXPRESS"
        )
    if launcher.uses_queue(settings):  # Postgres: a 'scones workflow worker' runs it
        workers.run(settings, execution, machine)
    else:
        durable.run(settings, execution.arn)


def resume_orphans(settings: Settings, concurrency: int = 4) -> list[str]:
    """Finish this home's STANDARD executions whose runner died (SQLite); return their ARNs.

    One that had started as a workflow resumes from its last finished step (DBOS replays the
    recorded steps); one whose runner died before starting it starts now.
    """
    launcher.ensure(settings)
    orphans = records.orphans(settings)

    def finish(execution: records.Execution) -> None:
        records.claim(settings, execution.arn)
        if not durable.resume(execution.arn):
            run(settings, execution)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(finish, orphans))
    return [e.arn for e in orphans]


def collect(settings: Settings) -> list[str]:
    """Finish this home's queued executions whose starting process died (Postgres: enqueue or wait, then record)."""
    done = []
    for execution in records.orphans(settings):
        records.claim(settings, execution.arn)
        run(settings, execution)  # the same workflow ID attaches to the execution if it was enqueued
        done.append(execution.arn)
    return done


def serve(settings: Settings, config: workers.WorkerConfig, stop: threading.Event | None = None) -> None:
    """Be a Postgres worker until `stop` is set: run queued executions and collect this home's orphans."""
    workers.serve(settings, config, stop, collect=collect)


def worker(settings: Settings, concurrency: int = 4, endpoint_concurrency: int | None = None) -> list[str] | None:
    """What `scones workflow worker` does: with Postgres, serve the shared queue until stopped (None);
    otherwise resume the executions whose runner died and return their ARNs."""
    if launcher.uses_queue(settings):
        serve(settings, workers.worker_config(concurrency=concurrency, endpoint_concurrency=endpoint_concurrency))
        return None
    return resume_orphans(settings, concurrency)
