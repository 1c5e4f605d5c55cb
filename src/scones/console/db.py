"""Reading the state database from request threads: one connection per thread, and
helpers to read stage tables that may not exist yet (a fresh home has none)."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from scones import state
from scones.config import Settings


class Database:
    """Per-thread connections to the state database (sqlite3 connections are not shared)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = state.connect(self.settings)
            self._local.conn = conn
        return conn

    def has_table(self, name: str) -> bool:
        row = self.conn().execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
        return row is not None

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn().execute(sql, params).fetchall()]

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        row = self.conn().execute(sql, params).fetchone()
        return None if row is None else dict(row)

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = self.conn().execute(sql, params).fetchone()
        return None if row is None else row[0]

    def count(self, table: str, status: str = "") -> int:
        """Rows of a stage table (0 when it does not exist yet), optionally of one status."""
        if not self.has_table(table):
            return 0
        where, params = (" WHERE status = ?", (status,)) if status else ("", ())
        return int(self.scalar(f"SELECT count(*) FROM {table}{where}", params))  # noqa: S608

    def status_counts(self, table: str) -> dict[str, int]:
        """Rows per status of a stage table ({} when it does not exist yet)."""
        if not self.has_table(table):
            return {}
        rows = self.rows(f"SELECT status, count(*) AS n FROM {table} GROUP BY status")  # noqa: S608
        return {str(r["status"]): int(r["n"]) for r in rows}
