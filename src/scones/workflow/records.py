"""Execution records in the state database: executions, their history and their task steps.

Tables `executions` (one row per execution, AWS DescribeExecution's fields), `execution_history`
(STANDARD executions' events in AWS's shape) and `execution_steps` (one row per Lambda call of
a STANDARD execution). EXPRESS history goes to a log file instead, as on AWS, where Express
executions keep their history only in logs: `<home>/logs/workflow/<state machine>.jsonl`.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scones import state
from scones.config import Settings
from scones.errors import WorkflowError
from scones.workflow.engine import Outcome
from scones.workflow.speedups import dumps

DDL = """
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state_machine TEXT NOT NULL,
    type TEXT NOT NULL,          -- EXPRESS | STANDARD
    status TEXT NOT NULL,        -- RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    input TEXT,
    output TEXT,
    error TEXT,
    cause TEXT,
    started TEXT NOT NULL,
    stopped TEXT,
    duration_ms REAL,
    runner TEXT                  -- host:pid:token of the process running it (a worker resumes it if that dies)
);
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions (state_machine, started);
CREATE TABLE IF NOT EXISTS execution_history (
    execution_arn TEXT NOT NULL,
    id INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (execution_arn, id)
);
CREATE TABLE IF NOT EXISTS execution_steps (
    execution_arn TEXT NOT NULL,
    seq INTEGER NOT NULL,
    function TEXT NOT NULL,
    status TEXT NOT NULL,        -- SUCCEEDED | FAILED
    error TEXT,
    started TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    PRIMARY KEY (execution_arn, seq)
);
"""
RUNNER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this process, as a runner
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_local = threading.local()


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str
    state_machine: str
    type: str
    status: str
    input: str | None
    output: str | None
    error: str | None
    cause: str | None
    started: str
    stopped: str | None
    duration_ms: float | None
    runner: str | None = None

    def describe(self, state_machine_arn: str) -> dict[str, Any]:
        """DescribeExecution's fields."""
        fields: dict[str, Any] = {
            "executionArn": self.arn,
            "stateMachineArn": state_machine_arn,
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "startDate": self.started,
            "stopDate": self.stopped,
            "input": self.input,
        }
        if self.status == "SUCCEEDED":
            fields["output"] = self.output
        if self.error is not None:
            fields["error"] = self.error
        if self.cause is not None:
            fields["cause"] = self.cause
        return fields


def connect(settings: Settings) -> sqlite3.Connection:
    """This thread's connection to the state database (opened once per thread and home)."""
    cache: dict[Path, sqlite3.Connection] = getattr(_local, "conns", None) or {}
    _local.conns = cache
    conn = cache.get(settings.state_db)
    if conn is None:
        cache[settings.state_db] = conn = state.connect(settings)
        state.ensure_table(conn, "executions", DDL)
    return conn


# One writer at a time within this process: SQLite's own busy handler sleeps whole milliseconds
# between retries, which made concurrent runners in one process wait far longer than the writes take.
_write_lock = threading.Lock()


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, this process's writers one at a time."""
    with _write_lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def insert(settings: Settings, execution: Execution) -> None:
    insert_many(settings, [execution])


def insert_many(settings: Settings, batch: list[Execution]) -> None:
    """Record executions in one transaction (run-testcases' runner processes hand theirs to the parent:
    one writer with batches, where several processes each committing every execution kept
    waiting on SQLite's lock)."""
    rows = [
        (
            e.arn, e.name, e.state_machine, e.type, e.status, e.input, e.output, e.error, e.cause,
            e.started, e.stopped, e.duration_ms, RUNNER_ID,
        )
        for e in batch
    ]  # fmt: skip
    conn = connect(settings)
    try:
        with _transaction(conn):
            conn.executemany("INSERT INTO executions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    except sqlite3.IntegrityError as exc:
        first = batch[0]
        raise WorkflowError(
            f"An execution named {first.name!r} already exists for {first.state_machine!r} "
            "(ExecutionAlreadyExists); choose another --name"
        ) from exc


def finish(settings: Settings, arn: str, outcome: Outcome) -> None:
    """Record how a STANDARD execution ended, with its history, in one transaction."""
    conn = connect(settings)
    stopped = state.now()
    output = None if outcome.output is None else dumps(outcome.output)
    with _transaction(conn):
        updated = conn.execute(
            "UPDATE executions SET status=?, output=?, error=?, cause=?, stopped=?, "
            "duration_ms=(julianday(?) - julianday(started)) * 86400000.0 WHERE arn=? AND status != 'ABORTED'",
            (outcome.status, output, outcome.error, outcome.cause, stopped, stopped, arn),
        )
        if updated.rowcount == 0:  # stopped (StopExecution) while it ran: ABORTED stays, with its history
            return
        conn.execute("DELETE FROM execution_history WHERE execution_arn=?", (arn,))
        conn.executemany(
            "INSERT INTO execution_history VALUES (?,?,?)",
            [(arn, event["id"], dumps(event)) for event in outcome.events],
        )


def abort(settings: Settings, arn: str, events: list[dict[str, Any]], error: str | None, cause: str | None) -> bool:
    """Mark RUNNING execution `arn` ABORTED (StopExecution), with `events` as its history; False if it had ended."""
    conn = connect(settings)
    stopped = state.now()
    with _transaction(conn):
        updated = conn.execute(
            "UPDATE executions SET status='ABORTED', error=?, cause=?, stopped=?, "
            "duration_ms=(julianday(?) - julianday(started)) * 86400000.0 WHERE arn=? AND status='RUNNING'",
            (error, cause, stopped, stopped, arn),
        )
        if updated.rowcount == 0:
            return False
        conn.execute("DELETE FROM execution_history WHERE execution_arn=?", (arn,))
        conn.executemany("INSERT INTO execution_history VALUES (?,?,?)", [(arn, e["id"], dumps(e)) for e in events])
    return True


def add_step(settings: Settings, arn: str, function: str, status: str, error: str | None, duration_ms: float) -> None:
    conn = connect(settings)
    with _write_lock:
        conn.execute(
            "INSERT INTO execution_steps VALUES "
            "(?, (SELECT COUNT(*) FROM execution_steps WHERE execution_arn=?), ?, ?, ?, ?, ?)",
            (arn, arn, function, status, error, state.now(), duration_ms),
        )


def steps(settings: Settings, arn: str) -> list[dict[str, Any]]:
    rows = connect(settings).execute("SELECT * FROM execution_steps WHERE execution_arn=? ORDER BY seq", (arn,))
    return [dict(r) for r in rows]


def get(settings: Settings, arn_or_name: str) -> Execution:
    """An execution by ARN, or by name when that name is unique."""
    conn = connect(settings)
    rows = conn.execute("SELECT * FROM executions WHERE arn=? OR name=? LIMIT 2", (arn_or_name, arn_or_name)).fetchall()
    if not rows:
        raise WorkflowError(f"No execution {arn_or_name!r}; see 'scones workflow list-executions NAME'")
    if len(rows) > 1:
        raise WorkflowError(f"Execution name {arn_or_name!r} is used by several state machines; give its ARN")
    return Execution(**dict(rows[0]))


def find(settings: Settings, arn: str) -> Execution | None:
    """The execution with this exact ARN (by its key, where `get`'s name lookup scans the table), or None."""
    row = connect(settings).execute("SELECT * FROM executions WHERE arn=?", (arn,)).fetchone()
    return None if row is None else Execution(**dict(row))


def list_for(settings: Settings, state_machine: str, status: str | None = None, limit: int = 1000) -> list[Execution]:
    if status is not None and status not in STATUSES:
        raise WorkflowError(f"Unknown status {status!r}; choose one of {', '.join(STATUSES)}")
    rows = connect(settings).execute(
        "SELECT * FROM executions WHERE state_machine=? AND (? IS NULL OR status=?) ORDER BY started DESC LIMIT ?",
        (state_machine, status, status, limit),
    )
    return [Execution(**dict(r)) for r in rows]


def history(settings: Settings, execution: Execution) -> list[dict[str, Any]]:
    """The execution's events: from the database (STANDARD) or its state machine's log (EXPRESS)."""
    if execution.type == "EXPRESS":
        return [
            e["event"]
            for e in _read_log(log_path(settings, execution.state_machine))
            if e["executionArn"] == execution.arn
        ]
    rows = connect(settings).execute(
        "SELECT event FROM execution_history WHERE execution_arn=? ORDER BY id", (execution.arn,)
    )
    return [json.loads(r["event"]) for r in rows]


def orphans(settings: Settings) -> list[Execution]:
    """RUNNING STANDARD executions whose runner process (on this host) has died."""
    rows = connect(settings).execute("SELECT * FROM executions WHERE status='RUNNING' AND type='STANDARD'")
    return [e for e in (Execution(**dict(r)) for r in rows) if not runner_alive(e.runner)]


def claim(settings: Settings, arn: str) -> None:
    """Make this process the runner of execution `arn`."""
    connect(settings).execute("UPDATE executions SET runner=? WHERE arn=?", (RUNNER_ID, arn))


def runner_alive(runner: str | None) -> bool:
    """Whether a runner ID's process still runs; runners on other hosts count as alive."""
    parts = (runner or "").split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    if parts[0] != socket.gethostname():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log_path(settings: Settings, state_machine: str) -> Path:
    return _log_path(settings.logs_dir, state_machine)


@functools.lru_cache(maxsize=256)
def _log_path(logs_dir: Path, state_machine: str) -> Path:
    return logs_dir / "workflow" / f"{state_machine}.jsonl"  # built once per machine, not per execution


_log_lock = threading.Lock()


def append_log(settings: Settings, state_machine: str, arn: str, events: list[dict[str, Any]]) -> None:
    """Append an EXPRESS execution's events to its state machine's log, one JSON line per event."""
    path = log_path(settings, state_machine)
    # the text of dumps({"executionArn": arn, "event": e}, (",", ":")) for each event, the ARN encoded once
    head = '{"executionArn":' + dumps(arn) + ',"event":'
    lines = "".join(head + dumps(e, (",", ":")) + "}\n" for e in events)
    data = lines.encode("utf-8")
    with _log_lock:
        # One O_APPEND write per execution: run-testcases' runner processes share the file, and a
        # single write lands whole at the end even when another process appends at the same time.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the home's first EXPRESS log: make its folder (not on every execution)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            written = os.write(fd, data)
            while written < len(data):  # only on a full disk or a signal; keep the line whole if we can
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as log:
        return [json.loads(line) for line in log if line.strip()]
