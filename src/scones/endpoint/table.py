"""The `endpoints` table, its `endpoint_workers` acknowledgements and its `endpoint_deployments`
history: every query of them lives here.

One row per named endpoint: where it listens (`url`), its status (Creating | InService | Failed |
Deleting), its server process, the model it serves and its settings (`config` JSON: port, workers,
capture, classes, model_sha256, log, ...). The row is also the model pointer that
`registry.update_endpoint` moves and each worker's `ModelWatcher` follows; the workers answer in
`endpoint_workers` with the model they serve.

Writers take a connection from `connect` (and close it); readers in later stages use `find`,
`capture_configs` and `url_and_status`, which never create the database. Standard library only
(plus `scones.state`): the Lambda zips bundle this module for `url_and_status`.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scones import state
from scones.config import Settings

DDL = """
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY,
    url TEXT,
    status TEXT NOT NULL,        -- Creating | InService | Failed | Deleting
    pid INTEGER,
    model TEXT,                  -- the artifact location the server loaded
    config TEXT,                 -- JSON: port, workers, capture, classes, log, ...
    created TEXT,
    updated TEXT,
    failure_reason TEXT
);
CREATE TABLE IF NOT EXISTS endpoint_workers (
    name TEXT NOT NULL,
    pid INTEGER NOT NULL,
    model_sha256 TEXT,           -- the model this worker serves
    failed_sha256 TEXT,          -- the last model it could not load, and why
    error TEXT,
    updated TEXT,
    PRIMARY KEY (name, pid)
);
CREATE TABLE IF NOT EXISTS endpoint_deployments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,          -- the endpoint
    strategy TEXT NOT NULL,      -- all-at-once | canary | linear
    status TEXT NOT NULL,        -- InProgress | Stopping | Recovering | Completed | RolledBack | Failed
    model TEXT,                  -- the candidate's location
    previous TEXT,               -- JSON: the variants it replaces
    phases TEXT,                 -- JSON list: {phase, at, ...figures}
    created TEXT,
    updated TEXT
);
CREATE TABLE IF NOT EXISTS endpoint_scaling (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,          -- the endpoint
    pid INTEGER NOT NULL,        -- its server process (a redeploy starts a new count)
    at TEXT NOT NULL,
    from_workers INTEGER NOT NULL,
    to_workers INTEGER NOT NULL,
    figures TEXT                 -- JSON: invocations per worker per minute, target, why
);
-- One deployment at a time per endpoint, enforced by the database (two `update-endpoint`s that
-- race both pass any check made before their insert; only one insert passes this index).
CREATE UNIQUE INDEX IF NOT EXISTS endpoint_deployments_one_active ON endpoint_deployments (name)
    WHERE status IN ('InProgress', 'Stopping', 'Recovering');
"""


@dataclass(frozen=True)
class EndpointRecord:
    name: str
    url: str
    status: str
    pid: int | None
    model: str
    config: dict[str, Any]
    created: str
    updated: str
    failure_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkerAck:
    """One server process's answer to the model pointer."""

    pid: int
    model_sha256: str | None
    failed_sha256: str | None
    error: str | None


def connect(settings: Settings) -> sqlite3.Connection:
    """The state database with both tables present (autocommit: each statement is its own write)."""
    conn = state.connect(settings)
    try:
        state.ensure_table(conn, "endpoints", DDL)
    except BaseException:
        conn.close()
        raise
    return conn


# -- endpoints ----------------------------------------------------------------------------------
def get(conn: sqlite3.Connection, name: str) -> EndpointRecord | None:
    row = conn.execute("SELECT * FROM endpoints WHERE name=?", (name,)).fetchone()
    return _record(row) if row else None


def all_records(conn: sqlite3.Connection) -> list[EndpointRecord]:
    return [_record(row) for row in conn.execute("SELECT * FROM endpoints ORDER BY name").fetchall()]


def put_creating(
    conn: sqlite3.Connection, name: str, url: str, model: str, config: dict[str, Any], created: str
) -> None:
    """Record (or replace) `name` as Creating, with no process yet."""
    conn.execute(
        "INSERT OR REPLACE INTO endpoints (name, url, status, pid, model, config, created, updated, failure_reason)"
        " VALUES (?, ?, 'Creating', NULL, ?, ?, ?, ?, NULL)",
        (name, url, model, state.dumps(config), created, state.now()),
    )


def set_pid(conn: sqlite3.Connection, name: str, pid: int) -> None:
    conn.execute("UPDATE endpoints SET pid=?, updated=? WHERE name=?", (pid, state.now(), name))


def set_status(conn: sqlite3.Connection, name: str, status: str) -> None:
    conn.execute("UPDATE endpoints SET status=?, updated=? WHERE name=?", (status, state.now(), name))


def mark_failed(conn: sqlite3.Connection, name: str, reason: str) -> None:
    conn.execute(
        "UPDATE endpoints SET status='Failed', failure_reason=?, updated=? WHERE name=?", (reason, state.now(), name)
    )


def point(conn: sqlite3.Connection, name: str, model: str, config: dict[str, Any]) -> None:
    """Move the model pointer (the status stays: the endpoint serves throughout)."""
    conn.execute(
        "UPDATE endpoints SET model=?, config=?, updated=? WHERE name=?",
        (model, state.dumps(config), state.now(), name),
    )


def remove(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM endpoints WHERE name=?", (name,))


def _record(row: sqlite3.Row) -> EndpointRecord:
    return EndpointRecord(
        name=row["name"], url=row["url"], status=row["status"], pid=row["pid"], model=row["model"],
        config=state.loads(row["config"]) or {}, created=row["created"], updated=row["updated"],
        failure_reason=row["failure_reason"],
    )  # fmt: skip


# -- endpoint_workers ---------------------------------------------------------------------------
def acknowledge(conn: sqlite3.Connection, name: str, pid: int, sha: str, failed: str | None, error: str | None) -> None:
    """Worker `pid` of `name` serves `sha` (and could not load `failed`, for `error`)."""
    conn.execute(
        "INSERT OR REPLACE INTO endpoint_workers (name, pid, model_sha256, failed_sha256, error, updated) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, pid, sha, failed, error, state.now()),
    )


def acknowledgements(conn: sqlite3.Connection, name: str) -> list[WorkerAck]:
    rows = conn.execute(
        "SELECT pid, model_sha256, failed_sha256, error FROM endpoint_workers WHERE name=?", (name,)
    ).fetchall()
    return [WorkerAck(r["pid"], r["model_sha256"], r["failed_sha256"], r["error"]) for r in rows]


# -- endpoint_deployments -----------------------------------------------------------------------
@dataclass(frozen=True)
class DeploymentRecord:
    id: str
    name: str
    strategy: str
    status: str
    model: str
    previous: list[dict[str, Any]]
    phases: list[dict[str, Any]]
    created: str
    updated: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def put_deployment(conn: sqlite3.Connection, record: DeploymentRecord) -> None:
    """Insert or replace a deployment's whole row (one writer per deployment: the process running it)."""
    conn.execute(
        "INSERT OR REPLACE INTO endpoint_deployments (id, name, strategy, status, model, previous, phases, created,"
        " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.id, record.name, record.strategy, record.status, record.model, state.dumps(record.previous),
         state.dumps(record.phases), record.created, state.now()),
    )  # fmt: skip


ACTIVE = ("InProgress", "Stopping", "Recovering")


def claim_deployment(conn: sqlite3.Connection, record: DeploymentRecord) -> bool:
    """Insert a new deployment's first row; False when another deployment of the endpoint is active."""
    try:
        conn.execute(
            "INSERT INTO endpoint_deployments (id, name, strategy, status, model, previous, phases, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.name, record.strategy, record.status, record.model, state.dumps(record.previous),
             state.dumps(record.phases), record.created, state.now()),
        )  # fmt: skip
    except sqlite3.IntegrityError:
        return False
    return True


def take_over(conn: sqlite3.Connection, record: DeploymentRecord) -> bool:
    """Move an active deployment, unchanged since `record` was read, to Recovering: True for the one caller
    that did it (a compare-and-set on its status and last update)."""
    cursor = conn.execute(
        "UPDATE endpoint_deployments SET status='Recovering', updated=? WHERE id=? AND status=? AND updated=?",
        (state.now(), record.id, record.status, record.updated),
    )
    return cursor.rowcount == 1


def request_stop(conn: sqlite3.Connection, name: str) -> DeploymentRecord | None:
    """Ask the deployment in progress on `name` to roll back (`update-endpoint --rollback`); None if none runs."""
    conn.execute(
        "UPDATE endpoint_deployments SET status='Stopping', updated=? WHERE name=? AND status='InProgress'",
        (state.now(), name),
    )
    found = [d for d in deployments(conn, name) if d.status in ("Stopping", "Recovering")]
    return found[0] if found else None


def deployment_status(conn: sqlite3.Connection, deployment_id: str) -> str | None:
    row = conn.execute("SELECT status FROM endpoint_deployments WHERE id=?", (deployment_id,)).fetchone()
    return row[0] if row else None


def deployments(conn: sqlite3.Connection, name: str) -> list[DeploymentRecord]:
    """`name`'s deployments, newest first."""
    rows = conn.execute("SELECT * FROM endpoint_deployments WHERE name=? ORDER BY created DESC", (name,)).fetchall()
    return [
        DeploymentRecord(
            id=r["id"],
            name=r["name"],
            strategy=r["strategy"],
            status=r["status"],
            model=r["model"] or "",
            previous=state.loads(r["previous"]) or [],
            phases=state.loads(r["phases"]) or [],
            created=r["created"],
            updated=r["updated"],
        )  # fmt: skip
        for r in rows
    ]


def find_deployments(settings: Settings, name: str) -> list[DeploymentRecord]:
    """For readers in later stages (the console): [] when nothing was deployed here."""
    if not settings.state_db.exists():
        return []
    try:
        with closing(state.connect(settings)) as conn:
            return deployments(conn, name)
    except sqlite3.OperationalError:  # no table yet
        return []


# -- endpoint_scaling ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ScalingEvent:
    name: str
    pid: int
    at: str
    from_workers: int
    to_workers: int
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def add_scaling_event(conn: sqlite3.Connection, event: ScalingEvent) -> None:
    conn.execute(
        "INSERT INTO endpoint_scaling (name, pid, at, from_workers, to_workers, figures) VALUES (?, ?, ?, ?, ?, ?)",
        (event.name, event.pid, event.at, event.from_workers, event.to_workers, state.dumps(event.figures)),
    )


def scaling_events(conn: sqlite3.Connection, name: str, limit: int = 100) -> list[ScalingEvent]:
    """`name`'s scaling events, newest first."""
    rows = conn.execute(
        "SELECT * FROM endpoint_scaling WHERE name=? ORDER BY id DESC LIMIT ?", (name, limit)
    ).fetchall()
    return [
        ScalingEvent(r["name"], r["pid"], r["at"], r["from_workers"], r["to_workers"], state.loads(r["figures"]) or {})
        for r in rows
    ]


def current_workers(conn: sqlite3.Connection, record: EndpointRecord) -> int:
    """How many workers `record`'s server runs now: its last scaling event's count, else its configured one."""
    row = conn.execute(
        "SELECT to_workers FROM endpoint_scaling WHERE name=? AND pid=? ORDER BY id DESC LIMIT 1",
        (record.name, record.pid or 0),
    ).fetchone()
    return int(row[0]) if row else int(record.config.get("workers", 1))


def find_scaling_events(settings: Settings, name: str) -> list[ScalingEvent]:
    """For readers in later stages (the console): [] when nothing was recorded."""
    if not settings.state_db.exists():
        return []
    try:
        with closing(state.connect(settings)) as conn:
            return scaling_events(conn, name)
    except sqlite3.OperationalError:  # no table yet
        return []


# -- readers in later stages (never create the database) -----------------------------------------
def find(settings: Settings, name: str) -> EndpointRecord | None:
    """`name`'s record as stored (its process unchecked), or None when nothing was deployed here."""
    if not settings.state_db.exists():
        return None
    try:
        with closing(state.connect(settings)) as conn:
            return get(conn, name)
    except sqlite3.OperationalError:  # no endpoints table yet
        return None


def capture_configs(settings: Settings) -> list[dict[str, Any]]:
    """Every endpoint's `config` (capture destination, variant, ...); [] when none was deployed."""
    if not settings.state_db.exists():
        return []
    try:
        with closing(state.connect(settings)) as conn:
            rows = conn.execute("SELECT config FROM endpoints").fetchall()
    except sqlite3.OperationalError:  # no endpoints table yet
        return []
    return [state.loads(config) or {} for (config,) in rows]


def url_and_status(db: Path, name: str) -> tuple[str | None, str] | None:
    """(url, status) of `name` from the database file `db`, opened read-only; sqlite3.Error if unreadable."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT url, status FROM endpoints WHERE name=?", (name,)).fetchone()
    finally:
        conn.close()
    return None if row is None else (row[0], row[1])
