"""STANDARD executions made durable with DBOS (SQLite in the scones home by default, or Postgres).

Each execution is a DBOS workflow whose ID is the execution ARN, and each Lambda call the
interpreter makes is a DBOS step. After a crash, the workflow replays: the interpreter runs
again from the start, and every task call that had finished returns its recorded response
instead of running again, so the execution continues where it stopped. A task runs in the
workflow's thread unless it declares TimeoutSeconds, when the interpreter gives it a thread of
its own; either way the workflow's context goes with it as a copy of its `contextvars` (one
task at a time, which is why Map and Parallel are refused for STANDARD).

Each process runs workflows under its own executor ID (its runner ID `host:pid:token`, also
stored on the execution's row), so two processes never resume each other's live executions;
`resume_orphans` (what `scones workflow worker` runs) finishes those whose process has died.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dbos import DBOS, SetWorkflowID, StepOptions

from scones import __version__
from scones.config import Settings, ensure_home, load_settings
from scones.errors import WorkflowError
from scones.workflow import definition as asl, engine, executions, machines, records

logger = logging.getLogger(__name__)
APP_VERSION = f"scones-{__version__}-workflow-1"  # fixed, so any scones process may resume any execution
EXECUTOR_ID = records.RUNNER_ID
_lock = threading.Lock()
LISTEN_QUEUES: list[str] = []  # queues this process dequeues from on Postgres (workers.serve sets it)
_launched_url: str | None = None


def database_url(settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{settings.home / 'executions.sqlite'}"


def ensure(settings: Settings) -> None:
    """Launch DBOS on this home's database (once; relaunched if the home changes)."""
    global _launched_url
    ensure_home(settings)
    url = database_url(settings)
    with _lock:
        if _launched_url == url:
            return
        if _launched_url is not None:
            DBOS.destroy()
        _quiet_dbos_logger()
        try:
            DBOS(
                config={
                    "name": "scones",
                    "system_database_url": url,
                    "system_database_engine": _engine(url),
                    "application_version": APP_VERSION,
                    "executor_id": EXECUTOR_ID,
                    "log_level": "WARNING",
                }
            )
            if not url.startswith("sqlite"):  # on a shared Postgres only workers take queued executions
                DBOS.listen_queues(LISTEN_QUEUES)
            DBOS.launch()
        except Exception as exc:  # noqa: BLE001 - DBOS/SQLAlchemy raise many kinds; one boundary here
            DBOS.destroy()
            raise WorkflowError(f"Cannot open the executions database {url}: {exc}; check SCONES_DATABASE_URL") from exc
        _launched_url = url


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (DBOS's own handler keeps the first one it saw)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _quiet_dbos_logger() -> None:
    dbos_logger = logging.getLogger("dbos")
    dbos_logger.setLevel(logging.WARNING)
    for old in list(dbos_logger.handlers):  # DBOS's handler holds the stderr of the moment it was imported
        if isinstance(old, logging.StreamHandler) and not isinstance(old, _StderrHandler):
            dbos_logger.removeHandler(old)
    if not dbos_logger.handlers:
        handler = _StderrHandler()
        handler.name = "__dbos_console_log_handler__"  # the name DBOS looks for to set its level
        dbos_logger.addHandler(handler)
        dbos_logger.propagate = False


def _engine(url: str) -> Any:
    """SQLite in WAL mode with NORMAL sync (durable across process crashes, the failure STANDARD guards
    against; a power cut may lose the last commits): several times faster than DBOS's default
    rollback journal. One pooled connection: SQLite runs one writer at a time anyway, and threads
    queueing for the pool wake as soon as it is free, where threads holding connections of their
    own met SQLITE_BUSY and slept in SQLite's busy handler (8 concurrent executions: 72 -> 93/s).
    Postgres URLs get DBOS's own engine."""
    if not url.startswith("sqlite"):
        return None
    import sqlalchemy as sa
    from sqlalchemy import event

    engine = sa.create_engine(url, pool_size=1, max_overflow=0)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"  # as DBOS does: serialise writers
        for pragma in ("busy_timeout=30000", "foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    return engine


@DBOS.workflow(name="scones.execution")
def _execution(home: str, arn: str) -> str:
    settings = load_settings(home=home)
    context = contextvars.copy_context()  # this workflow's DBOS context, also for tasks on their own thread

    def call(bindings: dict[str, str]) -> engine.TaskCall:
        def step(function: str, payload: Any) -> dict[str, Any]:
            local = executions._bound(bindings, function)

            def checkpointed() -> dict[str, Any]:
                options: StepOptions = {"name": f"lambda:{local}"}
                return DBOS.run_step(options, executions.timed_invoke, settings, arn, local, payload)

            return context.run(checkpointed)

        return step

    try:
        return executions.run_standard_body(settings, arn, call).status
    except Exception as exc:  # noqa: BLE001 - whatever broke, the execution must not stay RUNNING
        records.finish(settings, arn, "FAILED", None, "States.Runtime", f"{type(exc).__name__}: {exc}", [])
        return "FAILED"


def run(settings: Settings, arn: str) -> None:
    """Run STANDARD execution `arn` (already recorded as RUNNING) as a durable workflow."""
    machine = machines.get(settings, records.get(settings, arn).state_machine)
    if asl.uses_branches(asl.load(machine.definition)):
        records.finish(settings, arn, "FAILED", None, "States.Runtime", "Map/Parallel need EXPRESS locally", [])
        raise WorkflowError(
            f"State machine {machine.name!r} has Map or Parallel states, which STANDARD executions cannot replay "
            "durably here; start it with --type EXPRESS"
        )
    ensure(settings)
    with SetWorkflowID(arn):
        _execution(str(settings.home), arn)


def resume_orphans(settings: Settings, concurrency: int = 4) -> list[str]:
    """Finish the STANDARD executions whose runner died; return their ARNs.

    One that had started as a workflow resumes from its last finished step (DBOS replays the
    recorded steps); one whose runner died before starting it starts now.
    """
    ensure(settings)
    orphans = records.orphans(settings)

    def finish(execution: records.Execution) -> None:
        records.claim(settings, execution.arn)
        status = DBOS.get_workflow_status(execution.arn)
        if status is None:
            run(settings, execution.arn)
            return
        handle = DBOS.resume_workflow(execution.arn)
        handle.get_result(polling_interval_sec=0.1)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(finish, orphans))
    return [e.arn for e in orphans]
