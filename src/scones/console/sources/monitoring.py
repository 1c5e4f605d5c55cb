"""Monitoring runs, from stage 4's `monitoring_executions` table (scones.monitor.runs), and
each run's files (violations, statistics, report pictures) from its output prefix."""

from __future__ import annotations

import json
from typing import Any

from scones.console.db import Database
from scones.errors import SconesError
from scones.keys import parse_s3_uri
from scones.storage import Store

TABLE = "monitoring_executions"
VIOLATIONS = "constraint_violations.json"


def count(db: Database, status: str = "") -> int:
    return db.count(TABLE, status)


def status_counts(db: Database) -> dict[str, int]:
    return db.status_counts(TABLE)


def runs(db: Database, limit: int, offset: int, status: str = "") -> list[dict[str, Any]]:
    if not db.has_table(TABLE):
        return []
    where, params = (" WHERE status = ?", (status,)) if status else ("", ())
    sql = f"SELECT * FROM {TABLE}{where} ORDER BY started DESC LIMIT ? OFFSET ?"  # noqa: S608
    return db.rows(sql, (*params, limit, offset))


def run(db: Database, run_id: str) -> dict[str, Any] | None:
    if not db.has_table(TABLE):
        return None
    return db.one(f"SELECT * FROM {TABLE} WHERE run_id = ?", (run_id,))  # noqa: S608


def files(store: Store, output: str | None) -> dict[str, Any]:
    """The run's violations and the URIs of its pictures and report (what exists of them)."""
    found: dict[str, Any] = {"violations": None, "pictures": [], "report": None, "others": []}
    if not output or not output.startswith("s3://"):
        return found
    try:
        bucket, prefix = parse_s3_uri(output.rstrip("/"))
        objects = list(store.list(bucket, prefix))
    except SconesError as exc:
        found["error"] = str(exc)
        return found
    for obj in objects:
        uri = f"s3://{bucket}/{obj.key}"
        name = obj.key.rsplit("/", 1)[-1]
        if name == VIOLATIONS:
            try:
                found["violations"] = json.loads(store.get(bucket, obj.key)).get("violations", [])
            except (ValueError, AttributeError, SconesError) as exc:
                found["error"] = f"{uri} is not readable: {exc}"
        elif name.endswith((".png", ".svg")):
            found["pictures"].append({"uri": uri, "name": name})
        elif name.endswith(".html"):
            found["report"] = uri
        else:
            found["others"].append(uri)
    return found
