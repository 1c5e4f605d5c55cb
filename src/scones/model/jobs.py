"""Training job records: the `training_jobs` table of the state database.

One row per `scones train`, named like SageMaker's (`image-classification-YYYY-MM-DD-HH-MM-SS-mmm`)
or as given, with its hyperparameters, data checksum, status (InProgress, Completed, Failed,
Stopped), metrics, duration and artifact URI. The endpoint stage deploys by job name through
`artifact_uri`.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

from scones import state
from scones.config import Settings
from scones.errors import TrainingError
from scones.keys import s3_uri

TABLE = "training_jobs"
DDL = """
CREATE TABLE IF NOT EXISTS training_jobs (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    hyperparameters TEXT NOT NULL,
    channels TEXT NOT NULL,
    data_checksum TEXT,
    metrics TEXT NOT NULL DEFAULT '{}',
    failure_reason TEXT,
    artifact_uri TEXT,
    duration_seconds REAL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    ended TEXT
);
CREATE INDEX IF NOT EXISTS training_jobs_created ON training_jobs (created);
"""
STATUSES = ("InProgress", "Completed", "Failed", "Stopped")
PREFIX = "image-classification"
# SageMaker's rule for training job names: 1-63 alphanumerics and hyphens, starting alphanumeric.
_NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")
_JSON = ("hyperparameters", "channels", "metrics")


def new_name(prefix: str = PREFIX) -> str:
    """`image-classification-2026-11-26-07-31-05-123`, as the SageMaker SDK names jobs (UTC)."""
    moment = datetime.now(UTC)
    return f"{prefix}-{moment:%Y-%m-%d-%H-%M-%S}-{moment.microsecond // 1000:03d}"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise TrainingError(
            f"Training job name {name!r} is invalid; "
            "use 1-63 letters, digits and hyphens, starting with a letter or digit"
        )
    return name


def model_key(name: str) -> str:
    return f"models/{name}/output/model.tar.gz"


def plot_key(name: str) -> str:
    return f"models/{name}/output/metrics.png"


def _connect(settings: Settings) -> sqlite3.Connection:
    conn = state.connect(settings)
    state.ensure_table(conn, TABLE, DDL)
    return conn


def _record(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    for column in _JSON:
        record[column] = state.loads(record[column])
    return record


def create(
    settings: Settings, name: str, hyperparameters: dict[str, Any], channels: dict[str, str], data_checksum: str
) -> dict[str, Any]:
    """Record a new job as InProgress; TrainingError if the name is taken."""
    check_name(name)
    now = state.now()
    conn = _connect(settings)
    try:
        conn.execute(
            "INSERT INTO training_jobs (name, status, hyperparameters, channels, data_checksum, created, updated)"
            " VALUES (?, 'InProgress', ?, ?, ?, ?, ?)",
            (name, state.dumps(hyperparameters), state.dumps(channels), data_checksum, now, now),
        )
    except sqlite3.IntegrityError:
        raise TrainingError(
            f"A training job named {name} already exists; pick another --name or leave it out"
        ) from None
    finally:
        conn.close()
    return describe(settings, name)


def update_metrics(settings: Settings, name: str, metrics: dict[str, Any]) -> None:
    conn = _connect(settings)
    try:
        conn.execute(
            "UPDATE training_jobs SET metrics = ?, updated = ? WHERE name = ?",
            (state.dumps(metrics), state.now(), name),
        )
    finally:
        conn.close()


def finish(
    settings: Settings,
    name: str,
    status: str,
    *,
    duration_seconds: float,
    metrics: dict[str, Any] | None = None,
    artifact_uri: str | None = None,
    failure_reason: str | None = None,
) -> dict[str, Any]:
    """Close a job with its final status (Completed, Failed or Stopped)."""
    if status not in STATUSES[1:]:
        raise ValueError(f"final status must be one of {STATUSES[1:]}, not {status}")
    now = state.now()
    conn = _connect(settings)
    try:
        conn.execute(
            "UPDATE training_jobs SET status = ?, duration_seconds = ?, metrics = COALESCE(?, metrics),"
            " artifact_uri = ?, failure_reason = ?, updated = ?, ended = ? WHERE name = ?",
            (
                status,
                round(duration_seconds, 3),
                None if metrics is None else state.dumps(metrics),
                artifact_uri,
                failure_reason,
                now,
                now,
                name,
            ),
        )
    finally:
        conn.close()
    return describe(settings, name)


def get(settings: Settings, name: str) -> dict[str, Any] | None:
    conn = _connect(settings)
    try:
        row = conn.execute("SELECT * FROM training_jobs WHERE name = ?", (name,)).fetchone()
    finally:
        conn.close()
    return None if row is None else _record(row)


def describe(settings: Settings, name: str) -> dict[str, Any]:
    """The job's record; TrainingError if there is no such job."""
    record = get(settings, name)
    if record is None:
        raise TrainingError(f"no training job {name}; run 'scones training-jobs'")
    return record


def list_jobs(settings: Settings, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first, optionally only those with `status`."""
    if status is not None and status not in STATUSES:
        raise TrainingError(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}")
    sql, args = "SELECT * FROM training_jobs", []
    if status is not None:
        sql, args = sql + " WHERE status = ?", [status]
    conn = _connect(settings)
    try:
        rows = conn.execute(sql + " ORDER BY created DESC, name DESC LIMIT ?", (*args, limit)).fetchall()
    finally:
        conn.close()
    return [_record(row) for row in rows]


def latest_completed(
    settings: Settings, data_checksum: str | None = None, hyperparameters: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The newest Completed job with an artifact (on this data and these hyperparameters, when given)."""
    for record in list_jobs(settings, status="Completed", limit=1000):
        if not record["artifact_uri"]:
            continue
        if data_checksum is not None and record["data_checksum"] != data_checksum:
            continue
        if hyperparameters is not None and record["hyperparameters"] != hyperparameters:
            continue
        return record
    return None


def artifact_uri(settings: Settings, job_name: str) -> str:
    """Where the job's model.tar.gz is (s3://<bucket>/models/<job>/output/model.tar.gz)."""
    record = describe(settings, job_name)
    if record["artifact_uri"]:
        return str(record["artifact_uri"])
    if record["status"] == "InProgress":
        raise TrainingError(f"Training job {job_name} is still InProgress; wait for it to complete")
    raise TrainingError(f"Training job {job_name} is {record['status']} with no model; train again with 'scones train'")


def default_artifact_uri(settings: Settings, job_name: str) -> str:
    return s3_uri(settings.bucket, model_key(job_name))
