"""Training jobs and models, from stage 2a's `training_jobs` table (scones.model.jobs)."""

from __future__ import annotations

from typing import Any

from scones import state
from scones.console.db import Database

TABLE = "training_jobs"
JSON_COLUMNS = ("hyperparameters", "metrics", "history", "epochs", "config")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for column in JSON_COLUMNS:
        if isinstance(row.get(column), str):
            try:
                row[column] = state.loads(row[column])
            except ValueError:
                pass
    return row


def _order(db: Database) -> str:
    columns = db.columns(TABLE)
    for name in ("created", "creation_time", "started", "start_time"):
        if name in columns:
            return f"{name} DESC"
    return "rowid DESC"


def count(db: Database, status: str = "") -> int:
    if not db.has_table(TABLE):
        return 0
    if status:
        return int(db.scalar(f"SELECT count(*) FROM {TABLE} WHERE status = ?", (status,)))  # noqa: S608
    return int(db.scalar(f"SELECT count(*) FROM {TABLE}"))  # noqa: S608


def status_counts(db: Database) -> dict[str, int]:
    if not db.has_table(TABLE):
        return {}
    rows = db.rows(f"SELECT status, count(*) AS n FROM {TABLE} GROUP BY status")  # noqa: S608
    return {str(r["status"]): int(r["n"]) for r in rows}


def jobs(db: Database, limit: int, offset: int, status: str = "") -> list[dict[str, Any]]:
    if not db.has_table(TABLE):
        return []
    where, params = (" WHERE status = ?", (status,)) if status else ("", ())
    sql = f"SELECT * FROM {TABLE}{where} ORDER BY {_order(db)} LIMIT ? OFFSET ?"  # noqa: S608
    return [_decode(r) for r in db.rows(sql, (*params, limit, offset))]


def job(db: Database, name: str) -> dict[str, Any] | None:
    if not db.has_table(TABLE):
        return None
    row = db.one(f"SELECT * FROM {TABLE} WHERE name = ?", (name,))  # noqa: S608
    return None if row is None else _decode(row)


def epochs(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-epoch metrics of a job record, wherever the record keeps them."""
    for holder in (record, record.get("metrics") or {}):
        if not isinstance(holder, dict):
            continue
        for name in ("epochs", "history", "per_epoch"):
            value = holder.get(name)
            if isinstance(value, list) and all(isinstance(e, dict) for e in value):
                return value
    return []


def series(record: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """Accuracy series for the chart: {'train accuracy': [(epoch, value)], 'validation accuracy': ...}."""
    found: dict[str, list[tuple[float, float]]] = {}
    for number, entry in enumerate(epochs(record), start=1):
        epoch = float(entry.get("epoch", number))
        for key, value in entry.items():
            if "acc" in key and isinstance(value, int | float):
                label = key.replace("_", " ").replace("accuracy", "accuracy").strip()
                found.setdefault(label, []).append((epoch, float(value)))
    return found


def best_epoch(record: dict[str, Any]) -> int | None:
    for holder in (record, record.get("metrics") or {}):
        if isinstance(holder, dict) and isinstance(holder.get("best_epoch"), int):
            return int(holder["best_epoch"])
    return None


def artifact_uri(record: dict[str, Any]) -> str | None:
    for name in ("artifact_uri", "artifact", "model_uri", "model_data", "output_uri"):
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def plot_key(record: dict[str, Any]) -> str | None:
    """The metrics plot the training stage wrote (a URI named in the record, or beside the artifact)."""
    for name, value in record.items():
        if isinstance(value, str) and value.endswith(".png") and ("plot" in name or "png" in name or "chart" in name):
            return value
    artifact = artifact_uri(record)
    if artifact and artifact.startswith("s3://") and "/" in artifact[5:]:
        return artifact.rsplit("/", 1)[0] + "/metrics.png"
    return None
