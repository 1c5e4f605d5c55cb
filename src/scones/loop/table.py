"""The loop's tables in the state database: dataset versions made from reviews, and loop iterations.

`loop_datasets` lists every version `scones dataset add-reviewed` staged (newest last), so
`scones retrain NAME` finds the newest one without listing the store; `loop_iterations`
records each retraining and what was decided, for `scones loop run` and the console.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any

from scones import state
from scones.config import Settings

_DDL = """
CREATE TABLE IF NOT EXISTS loop_datasets (
    uri TEXT PRIMARY KEY,          -- s3://bucket/prefix of the version
    endpoint TEXT NOT NULL,        -- whose reviewed images it adds
    parent TEXT NOT NULL,          -- the version it was built on
    counts TEXT NOT NULL,          -- JSON: images per split
    added INTEGER NOT NULL,        -- reviewed images added by this version
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS loop_iterations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    trigger TEXT NOT NULL,         -- what started it: labels, violation, schedule, manual
    status TEXT NOT NULL,          -- Skipped | Deployed | PendingManualApproval | RolledBack | Failed | InProgress
    reason TEXT,
    details TEXT                   -- JSON: dataset, candidate, evaluations, decision
);
"""


def connect(settings: Settings) -> sqlite3.Connection:
    conn = state.connect(settings)
    state.ensure_table(conn, "loop", _DDL)
    return conn


def add_version(settings: Settings, uri: str, endpoint: str, parent: str, counts: dict[str, int], added: int) -> None:
    with closing(connect(settings)) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO loop_datasets (uri, endpoint, parent, counts, added, created) VALUES (?,?,?,?,?,?)",
            (uri, endpoint, parent, state.dumps(counts), added, state.now()),
        )


def versions(settings: Settings, endpoint: str) -> list[dict[str, Any]]:
    """The dataset versions made for `endpoint`, oldest first."""
    with closing(connect(settings)) as conn:
        rows = conn.execute(
            "SELECT * FROM loop_datasets WHERE endpoint=? ORDER BY created, rowid", (endpoint,)
        ).fetchall()
    return [{**dict(r), "counts": json.loads(r["counts"])} for r in rows]


def start_iteration(settings: Settings, endpoint: str, trigger: str) -> int:
    with closing(connect(settings)) as conn:
        cursor = conn.execute(
            "INSERT INTO loop_iterations (endpoint, started, trigger, status) VALUES (?,?,?,?)",
            (endpoint, state.now(), trigger, "InProgress"),
        )
        return int(cursor.lastrowid or 0)


def finish_iteration(
    settings: Settings, iteration: int, status: str, reason: str | None, details: dict[str, Any] | None = None
) -> None:
    with closing(connect(settings)) as conn:
        conn.execute(
            "UPDATE loop_iterations SET finished=?, status=?, reason=?, details=? WHERE id=?",
            (state.now(), status, reason, state.dumps(details or {}), iteration),
        )


def iterations(settings: Settings, endpoint: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Loop iterations, newest first, optionally of one endpoint."""
    query, args = "SELECT * FROM loop_iterations", []
    if endpoint is not None:
        query, args = query + " WHERE endpoint=?", [endpoint]
    with closing(connect(settings)) as conn:
        rows = conn.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    return [{**dict(r), "details": json.loads(r["details"]) if r["details"] else {}} for r in rows]
