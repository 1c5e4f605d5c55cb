"""STANDARD executions made durable with DBOS (SQLite in the scones home by default, or Postgres).

Each execution is a DBOS workflow whose ID is the execution ARN, and each Lambda call the
interpreter makes is a DBOS step. After a crash, the workflow replays: the interpreter runs
again from the start, and every task call that had finished returns its recorded response
instead of running again, so the execution continues where it stopped. The interpreter runs
states in its own threads; the workflow's context is carried into them with a copy of its
`contextvars` (one task at a time, which is why Map and Parallel are refused for STANDARD).

Each process runs workflows under its own executor ID (`host:pid:token`), so two processes
never resume each other's live executions; `resume_orphans` (what `scones workflow worker`
runs) resumes the ones whose process on this host has died.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from dbos import DBOS, SetWorkflowID

from scones import __version__
from scones.config import Settings, load_settings
from scones.errors import WorkflowError
from scones.workflow import definition as asl, engine, executions, machines, records

logger = logging.getLogger(__name__)
APP_VERSION = f"scones-{__version__}-workflow-1"  # fixed, so any scones process may resume any execution
EXECUTOR_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_lock = threading.Lock()
_launched_url: str | None = None


def database_url(settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{settings.home / 'executions.sqlite'}"


def ensure(settings: Settings) -> None:
    """Launch DBOS on this home's database (once; relaunched if the home changes)."""
    global _launched_url
    url = database_url(settings)
    with _lock:
        if _launched_url == url:
            return
        if _launched_url is not None:
            DBOS.destroy()
        logging.getLogger("dbos").setLevel(logging.WARNING)
        try:
            DBOS(
                config={
                    "name": "scones",
                    "system_database_url": url,
                    "system_database_engine": _engine(url),
                    "application_version": APP_VERSION,
                    "executor_id": EXECUTOR_ID,
                    "log_level": "WARNING",
                    "run_admin_server": False,
                }  # type: ignore[typeddict-unknown-key]
            )
            DBOS.launch()
        except Exception as exc:  # noqa: BLE001 - DBOS/SQLAlchemy raise many kinds; one boundary here
            DBOS.destroy()
            raise WorkflowError(f"Cannot open the executions database {url}: {exc}; check SCONES_DATABASE_URL") from exc
        _launched_url = url


def _engine(url: str) -> Any:
    """SQLite in WAL mode with NORMAL sync (durable across process crashes, the failure STANDARD guards
    against; a power cut may lose the last commits): several times faster than DBOS's default
    rollback journal. Postgres URLs get DBOS's own engine."""
    if not url.startswith("sqlite"):
        return None
    import sqlalchemy as sa
    from sqlalchemy import event

    engine = sa.create_engine(url, pool_size=20, max_overflow=20)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"  # as DBOS does: serialise writers
        for pragma in ("busy_timeout=30000", "foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    return engine


@DBOS.workflow(name="scones.execution")
def _execution(home: str, arn: str) -> str:
    settings = load_settings(home=home)
    context = contextvars.copy_context()  # carries this workflow's DBOS context into the interpreter's threads

    def call(bindings: dict[str, str]) -> engine.TaskCall:
        def step(function: str, payload: Any) -> dict[str, Any]:
            local = executions._bound(bindings, function)
            return context.run(
                DBOS.run_step, {"name": f"lambda:{local}"}, executions.timed_invoke, settings, arn, local, payload
            )

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


def _alive(executor_id: str | None) -> bool:
    """Whether the process behind a scones executor ID still runs (unknown hosts count as alive)."""
    parts = (executor_id or "").split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return executor_id != "local"
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resume_orphans(settings: Settings, timeout: float | None = None) -> list[str]:
    """Resume the unfinished executions whose runner died, wait for them, and return their ARNs."""
    ensure(settings)
    pending = DBOS.list_workflows(status=["PENDING", "ENQUEUED"], name="scones.execution")
    orphans = [w.workflow_id for w in pending if not _alive(w.executor_id) or w.status == "ENQUEUED"]
    handles = [DBOS.resume_workflow(workflow_id) for workflow_id in orphans]
    deadline = None if timeout is None else time.monotonic() + timeout
    for handle in handles:
        handle.get_result(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
    return orphans
