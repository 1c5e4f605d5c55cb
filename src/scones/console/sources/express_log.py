"""EXPRESS executions' history without reading the whole log for each page.

Stage 3 appends EXPRESS history to `<home>/logs/workflow/<state machine>.jsonl`, one event a
line, as AWS keeps Express history only in logs. Reading that file per page view grows with
every execution ever run, so the console indexes it like captured data: for each line, the
execution it belongs to and where it is, reading only bytes added since the last look.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from scones import state
from scones.console.db import Database

DDL = """
CREATE TABLE IF NOT EXISTS console_express_logs (path TEXT PRIMARY KEY, indexed_bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS console_express_events (
    path TEXT NOT NULL, arn TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
    PRIMARY KEY (path, offset));
CREATE INDEX IF NOT EXISTS console_express_events_arn ON console_express_events (arn, offset);
"""
_PREFIX = b'{"executionArn":"'  # how stage 3 writes each line: the ARN first, then the event
_lock = threading.Lock()


def _arn_of(line: bytes) -> str | None:
    if line.startswith(_PREFIX):
        end = line.find(b'"', len(_PREFIX))
        if end > 0:
            return line[len(_PREFIX) : end].decode()
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return str(value.get("executionArn")) if isinstance(value, dict) and value.get("executionArn") else None


def refresh(db: Database, path: Path) -> int:
    """Index the lines appended to `path` since the last call; returns lines indexed."""
    conn = db.conn()
    state.ensure_table(conn, "console_express_events", DDL)
    if not path.is_file():
        return 0
    with _lock:  # one indexer per process; rows are keyed by offset, so other processes only repeat work
        row = conn.execute("SELECT indexed_bytes FROM console_express_logs WHERE path = ?", (str(path),)).fetchone()
        start = int(row[0]) if row else 0
        size = path.stat().st_size
        if size < start:  # the log was replaced: start over
            conn.execute("DELETE FROM console_express_events WHERE path = ?", (str(path),))
            start = 0
        if size == start:
            return 0
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(size - start)
        rows, position = [], start
        for line in data.split(b"\n")[:-1]:  # an unfinished last line waits for the next look
            arn = _arn_of(line)
            if arn is not None:
                rows.append((str(path), arn, position, len(line)))
            position += len(line) + 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR IGNORE INTO console_express_events VALUES (?,?,?,?)", rows)
            conn.execute(
                "INSERT INTO console_express_logs VALUES (?, ?) ON CONFLICT (path) DO UPDATE SET"
                " indexed_bytes = excluded.indexed_bytes",
                (str(path), position),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(rows)


def history(db: Database, path: Path, arn: str) -> list[dict[str, Any]]:
    """The events of execution `arn` from log `path`, in order, reading only its lines."""
    refresh(db, path)
    spans = (
        db.conn()
        .execute(
            "SELECT offset, length FROM console_express_events WHERE path = ? AND arn = ? ORDER BY offset",
            (str(path), arn),
        )
        .fetchall()
    )
    events: list[dict[str, Any]] = []
    if not spans:
        return events
    with path.open("rb") as handle:
        for offset, length in spans:
            handle.seek(offset)
            value = json.loads(handle.read(length))
            events.append(value["event"])
    return events


def refresh_all(db: Database) -> int:
    """Index every state machine's EXPRESS log (what the background thread does)."""
    folder = db.settings.logs_dir / "workflow"
    return sum(refresh(db, path) for path in sorted(folder.glob("*.jsonl"))) if folder.is_dir() else 0
