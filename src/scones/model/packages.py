"""The model registry: versioned model packages in groups, with an approval status (SageMaker's
ModelPackageGroup / ModelPackage).

`register` gives a model the next version of its group: it copies the artifact to
`s3://<bucket>/model-packages/<group>/<version>/model.tar.gz` (written once, never replaced:
what was approved is what gets deployed), records the training job and its data checksum, and
evaluates the model on a named split (accuracy, per-class precision and recall, confident
share, ECE; `evaluate.py`). A package starts PendingManualApproval; `set_status` approves or
rejects it. Rows live in the `model_packages` table of the state database.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from typing import Any

from scones import state
from scones.config import Settings
from scones.errors import ConfigError
from scones.model import artifact as artifact_module
from scones.model.evaluate import evaluate, resolve_model
from scones.storage import Store

STATUSES = ("PendingManualApproval", "Approved", "Rejected")
DEFAULT_GROUP = "bike-moto"
GROUP_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's ModelPackageGroupName rule
DDL = """
CREATE TABLE IF NOT EXISTS model_packages (
    group_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,          -- PendingManualApproval | Approved | Rejected
    artifact TEXT NOT NULL,        -- the immutable copy: s3://<bucket>/model-packages/<group>/<version>/model.tar.gz
    source TEXT,                   -- what was registered (job name, URI or path)
    training_job TEXT,
    data_checksum TEXT,
    model_sha256 TEXT,
    evaluation TEXT,               -- JSON: scones.model.evaluate.Evaluation, or null
    description TEXT,
    created TEXT,
    updated TEXT,
    PRIMARY KEY (group_name, version)
);
"""


@dataclass(frozen=True)
class ModelPackage:
    group: str
    version: int
    status: str
    artifact: str
    source: str
    training_job: str | None
    data_checksum: str | None
    model_sha256: str
    evaluation: dict[str, Any] | None
    description: str | None
    created: str
    updated: str

    @property
    def arn(self) -> str:
        """SageMaker's shape, with a local account: arn:aws:sagemaker:local:000000000000:model-package/<group>/<v>."""
        return f"arn:aws:sagemaker:local:000000000000:model-package/{self.group}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "arn": self.arn}


def register(
    settings: Settings,
    model: str,
    group: str = DEFAULT_GROUP,
    data: str | None = None,
    evaluate_model: bool = True,
    description: str | None = None,
) -> ModelPackage:
    """A new version of `group` for `model` (job name, s3:// URI or path), PendingManualApproval."""
    if not GROUP_PATTERN.match(group):
        raise ConfigError(f"Group name {group!r} is not valid: use up to 63 letters, digits and hyphens")
    store = Store(settings)
    location = resolve_model(settings, model)
    art = artifact_module.load(location, store)  # a broken artifact is refused before anything is written
    evaluation = None
    if evaluate_model:
        images = (data or f"s3://{settings.bucket}/data/test").rstrip("/")
        evaluation = evaluate(settings, location, images, f"{images}.lst", store=store).as_dict()
    job = art.manifest.training_job or None
    checksum = None
    if job:
        from scones.model.jobs import get

        record = get(settings, job)
        checksum = record.get("data_checksum") if record else None
    with closing(_connect(settings)) as conn:
        conn.execute("BEGIN IMMEDIATE")  # the version number and the row are taken together
        try:
            (last,) = conn.execute("SELECT MAX(version) FROM model_packages WHERE group_name=?", (group,)).fetchone()
            version = int(last or 0) + 1
            key = f"model-packages/{group}/{version}/model.tar.gz"
            # Only a crashed register can have left a file here, and no package points at it: committed
            # versions are never reused, so a committed package's artifact is never written again.
            store.put(settings.bucket, key, art.pack())
            now = state.now()
            conn.execute(
                "INSERT INTO model_packages (group_name, version, status, artifact, source, training_job,"
                " data_checksum, model_sha256, evaluation, description, created, updated)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (group, version, "PendingManualApproval", f"s3://{settings.bucket}/{key}", model, job, checksum,
                 art.manifest.model_sha256, state.dumps(evaluation), description, now, now),
            )  # fmt: skip
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return describe(settings, group, version)


def describe(settings: Settings, group: str, version: int) -> ModelPackage:
    with closing(_connect(settings)) as conn:
        row = conn.execute("SELECT * FROM model_packages WHERE group_name=? AND version=?", (group, version)).fetchone()
    if row is None:
        raise ConfigError(f"No model package {group}/{version}; run 'scones models list' to see them")
    return _package(row)


def list_packages(settings: Settings, group: str | None = None, status: str | None = None) -> list[ModelPackage]:
    """Newest first, optionally one group's or one status's."""
    if status is not None and status not in STATUSES:
        raise ConfigError(f"Status {status!r} is not one of {', '.join(STATUSES)}")
    query, args = "SELECT * FROM model_packages WHERE 1=1", list[str]()
    if group:
        query, args = query + " AND group_name=?", [*args, group]
    if status:
        query, args = query + " AND status=?", [*args, status]
    with closing(_connect(settings)) as conn:
        rows = conn.execute(query + " ORDER BY group_name, version DESC", args).fetchall()
    return [_package(row) for row in rows]


def set_status(settings: Settings, group: str, version: int, status: str, note: str | None = None) -> ModelPackage:
    """Approve or reject (UpdateModelPackage's ModelApprovalStatus); the artifact never changes."""
    if status not in STATUSES:
        raise ConfigError(f"Status {status!r} is not one of {', '.join(STATUSES)}")
    describe(settings, group, version)  # a clear error when there is no such package
    with closing(_connect(settings)) as conn:
        conn.execute(
            "UPDATE model_packages SET status=?, description=COALESCE(?, description), updated=?"
            " WHERE group_name=? AND version=?",
            (status, note, state.now(), group, version),
        )
    return describe(settings, group, version)


def parse_ref(ref: str) -> tuple[str, int]:
    """`GROUP/VERSION` (or a package ARN) -> (group, version)."""
    tail = ref.rsplit("model-package/", 1)[-1]
    group, sep, version = tail.rpartition("/")
    if not sep or not group or not version.isdigit():
        raise ConfigError(f"{ref!r} is not GROUP/VERSION (e.g. bike-moto/3); run 'scones models list'")
    return group, int(version)


def _connect(settings: Settings) -> sqlite3.Connection:
    conn = state.connect(settings)
    try:
        state.ensure_table(conn, "model_packages", DDL)
    except BaseException:
        conn.close()
        raise
    return conn


def _package(row: sqlite3.Row) -> ModelPackage:
    return ModelPackage(
        group=row["group_name"], version=row["version"], status=row["status"], artifact=row["artifact"],
        source=row["source"] or "", training_job=row["training_job"], data_checksum=row["data_checksum"],
        model_sha256=row["model_sha256"] or "", evaluation=state.loads(row["evaluation"]),
        description=row["description"], created=row["created"], updated=row["updated"],
    )  # fmt: skip
