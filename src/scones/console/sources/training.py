"""Training jobs and models, through stage 2a's API (scones.model.jobs) and its table.

Lists page through the `training_jobs` table (newest first, on its `created` index); one job
comes from `jobs.get`. A record's metrics hold `epochs` (one entry per epoch: train and
validation accuracy and loss, seconds, learning rate) and, once finished, `best_epoch`.
"""

from __future__ import annotations

from typing import Any

from scones import state
from scones.console.db import Database

TABLE = "training_jobs"
JSON_COLUMNS = ("hyperparameters", "channels", "metrics")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for column in JSON_COLUMNS:
        if isinstance(row.get(column), str):
            row[column] = state.loads(row[column])
    return row


def count(db: Database, status: str = "") -> int:
    return db.count(TABLE, status)


def status_counts(db: Database) -> dict[str, int]:
    return db.status_counts(TABLE)


def jobs(db: Database, limit: int, offset: int, status: str = "") -> list[dict[str, Any]]:
    if not db.has_table(TABLE):
        return []
    where, params = (" WHERE status = ?", (status,)) if status else ("", ())
    sql = f"SELECT * FROM {TABLE}{where} ORDER BY created DESC, name DESC LIMIT ? OFFSET ?"  # noqa: S608
    return [_decode(r) for r in db.rows(sql, (*params, limit, offset))]


def job(db: Database, name: str) -> dict[str, Any] | None:
    """One job's record (JSON columns decoded)."""
    from scones.model import jobs as registry

    return registry.get(db.settings, name)


def completed(db: Database, limit: int) -> list[dict[str, Any]]:
    from scones.model import jobs as registry

    return registry.list_jobs(db.settings, status="Completed", limit=limit)


def epochs(record: dict[str, Any]) -> list[dict[str, Any]]:
    metrics = record.get("metrics")
    value = metrics.get("epochs") if isinstance(metrics, dict) else None
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def series(record: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """Accuracy series for the chart: {'train accuracy': [(epoch, value)], 'validation accuracy': ...}."""
    found: dict[str, list[tuple[float, float]]] = {}
    for number, entry in enumerate(epochs(record)):
        for key in ("train_accuracy", "validation_accuracy"):
            if isinstance(entry.get(key), int | float):
                found.setdefault(key.replace("_", " "), []).append((float(entry.get("epoch", number)), entry[key]))
    return found


def best_epoch(record: dict[str, Any]) -> int | None:
    metrics = record.get("metrics")
    best = metrics.get("best_epoch") if isinstance(metrics, dict) else None
    return best if isinstance(best, int) else None


def plot_uri(db: Database, record: dict[str, Any]) -> str:
    """Where `scones train` writes the job's metrics plot (train and validation accuracy)."""
    from scones.model import jobs as registry

    return f"s3://{db.settings.bucket}/{registry.plot_key(str(record['name']))}"
