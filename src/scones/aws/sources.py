"""What deploy takes from the local scones: the model artifact and the staged data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scones.aws.errors import AwsError
from scones.config import Settings
from scones.errors import SconesError
from scones.model.artifact import load_dir, sha256, unpack
from scones.storage import Store, read_uri


@dataclass(frozen=True)
class StagedData:
    """The staged objects (keys relative to the bucket) and how to read one."""

    keys: list[str]
    read: Callable[[str], bytes]


def load_model(settings: Settings, location: str | None) -> tuple[bytes, str]:
    """model.tar.gz bytes and the sha256 of its ONNX model, checked to be a scones artifact.

    `location`: a model.tar.gz, its unpacked folder, an s3:// URI in the scones store, a
    training job name, or None for the latest completed training job.
    """
    store = Store(settings)
    if location is None or not (location.startswith("s3://") or Path(location).expanduser().exists()):
        location = _job_artifact(settings, location)
    path = Path(location).expanduser()
    if path.is_dir():
        artifact = load_dir(path)
        return artifact.pack(), sha256(artifact.onnx)
    body = read_uri(store, location)
    return body, sha256(unpack(body, location).onnx)


def _job_artifact(settings: Settings, job: str | None) -> str:
    from scones.model import jobs

    if job is None:
        latest = jobs.latest_completed(settings)
        if latest is None:
            raise AwsError("No completed training job to deploy; run 'scones train' or pass --model ARTIFACT")
        job = str(latest["name"])
    return str(jobs.artifact_uri(settings, job))


def staged_data(settings: Settings, prefix: str) -> StagedData:
    """The staged data under `prefix` in the scones store (stage 1's layout)."""
    store = Store(settings)
    try:
        keys = [info.key for info in store.list(settings.bucket, prefix)]
    except SconesError as exc:
        raise AwsError(f"Cannot list the staged data: {exc}") from exc
    manifest = f"{prefix}/manifest.json" if prefix else "manifest.json"
    if manifest not in keys:
        raise AwsError(
            f"No staged data at {store.describe(settings.bucket, prefix)}; run 'scones stage' first "
            "or pass --data-prefix"
        )
    return StagedData(keys=keys, read=lambda key: store.get(settings.bucket, key))
