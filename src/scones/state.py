"""The state database: one SQLite file in the scones home that records what exists.

Each stage owns its tables (training jobs in `scones.model.jobs`, endpoints in
`scones.endpoint.registry`, ...) and declares them with `ensure_table`; this module only
opens the database safely. WAL mode lets the CLI, endpoints, the console and workflow
runners read and write it at the same time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scones.config import Settings, ensure_home
from scones.errors import ConfigError

_created: set[tuple[str, str]] = set()
_lock = threading.Lock()


def connect(settings: Settings) -> sqlite3.Connection:
    """Open the state database (created user-only on first use), rows as sqlite3.Row."""
    ensure_home(settings)
    path = settings.state_db
    fresh = not path.exists()
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ConfigError(f"Cannot open the state database {path}: {exc}; check SCONES_HOME") from exc
    if fresh:
        path.chmod(0o600)
    conn.row_factory = sqlite3.Row
    try:
        use_wal(conn)
    except BaseException:
        conn.close()
        raise
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def use_wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """Switch to WAL (a no-op once the file is WAL), retrying while another connection holds the file.

    Why: on a file no one has switched yet, the switch needs the file to itself, and SQLite answers
    "database is locked" at once, without waiting out busy_timeout, when another connection opens the
    new file at that moment (16 threads on each of 300 new homes: 22 of the 4,800 connections failed).
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def ensure_table(conn: sqlite3.Connection, name: str, ddl: str) -> None:
    """Run `ddl` (CREATE TABLE/INDEX IF NOT EXISTS ...) once per database and process."""
    db = conn.execute("PRAGMA database_list").fetchone()[2]
    with _lock:
        if (db, name) in _created:
            return
        conn.executescript(ddl)
        _created.add((db, name))


def now() -> str:
    """The current time as ISO-8601 UTC with a Z, the format every record uses."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dumps(value: Any) -> str:
    """JSON for a column (compact, keys sorted so equal values compare equal)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def home_exists(settings: Settings) -> bool:
    return Path(settings.state_db).exists()
