"""DBOS in this process: launched once per executions database, under this process's executor ID.

STANDARD executions are DBOS workflows. DBOS keeps one instance per process, so one module
owns it: `ensure` launches it on the home's database (SQLite in the scones home by default,
or Postgres from SCONES_DATABASE_URL) and relaunches it if the database changes. A worker
names the queues it takes work from when it launches; every other process on a shared
Postgres only enqueues.

Each process runs workflows under its own executor ID (its runner ID `host:pid:token`, also
stored on the execution's row), so two processes never resume each other's live executions.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS

from scones import __version__, state
from scones.config import Settings, ensure_home
from scones.errors import WorkflowError
from scones.workflow import records

APP_VERSION = f"scones-{__version__}-workflow-1"  # fixed, so any scones process may resume any execution
EXECUTOR_ID = records.RUNNER_ID
_lock = threading.Lock()
_launched_url: str | None = None


def database_url(settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{settings.home / 'executions.sqlite'}"


def uses_queue(settings: Settings) -> bool:
    """Whether STANDARD executions go to workers through a queue (a Postgres database URL)."""
    return (settings.database_url or "").startswith(("postgresql", "postgres://"))


def ensure(settings: Settings, queues: Sequence[str] = ()) -> None:
    """Launch DBOS on this home's database (once; relaunched if the home changes).

    On Postgres this process dequeues only from `queues` (a worker passes its queue; starters
    pass none), as fixed when it launches on a database.
    """
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
                    "system_database_engine": sqlite_engine(url),
                    "application_version": APP_VERSION,
                    "executor_id": EXECUTOR_ID,
                    "log_level": "WARNING",
                }
            )
            if not url.startswith("sqlite"):  # on a shared Postgres only workers take queued executions
                DBOS.listen_queues(list(queues))
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


def sqlite_engine(url: str) -> Any:
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
        for pragma in ("busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
            dbapi_conn.execute(f"PRAGMA {pragma}")
        state.use_wal(dbapi_conn)  # workers opening a new database at once race to switch it
        if sqlite3.sqlite_version_info < (3, 42):
            # On Python >= 3.12 DBOS stamps rows with unixepoch('subsec'), which SQLite learnt in 3.42;
            # older ones (Debian 12's 3.40, which pyenv and distro Pythons link) return NULL and every
            # STANDARD execution fails a NOT NULL constraint. SQLite lets a connection override a built-in.
            dbapi_conn.create_function("unixepoch", 1, _unixepoch)

    return engine


def _unixepoch(value: str | float | None) -> float | int | None:
    """SQLite's unixepoch(X) with 3.42's 'subsec' (seconds with milliseconds) on an older SQLite."""
    if value == "subsec":
        return round(time.time(), 3)
    if value == "now":
        return int(time.time())
    if isinstance(value, int | float):
        return int(value)  # a number is already seconds since the epoch, as SQLite reads it
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None  # what SQLite answers for a time it cannot read
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
