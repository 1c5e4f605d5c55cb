"""What deploy takes from the local scones: the model artifact and the staged data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scones.aws.errors import AwsError
from scones.config import Settings
from scones.endpoint.capture import DEFAULT_VARIANT
from scones.endpoint.variants import Variant, check
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


def load_variants(
    settings: Settings, model: str | None, specs: Sequence[Variant] = ()
) -> tuple[tuple[Variant, ...], dict[str, bytes]]:
    """The variants to deploy, each with its model's sha256, and every distinct model's bytes by sha256.

    `specs` are `scones deploy`'s parsed `--variant NAME=MODEL[:WEIGHT]` and `--shadow NAME=MODEL[:PERCENT]`.
    Without a production variant among them, the one variant AllTraffic serves `model` (as `load_model`
    finds it: default the latest completed training job).
    """
    wanted: list[tuple[Variant, str | None]] = [(v, v.model) for v in specs]  # each variant and where its model is
    if any(not v.shadow for v in specs):
        if model is not None:
            raise AwsError("Give --model (one variant, AllTraffic) or --variant NAME=MODEL[:WEIGHT] options, not both")
    else:
        wanted.insert(0, (Variant(DEFAULT_VARIANT, model or "the latest training job"), model))
    check([v for v, _ in wanted])
    bodies: dict[str, bytes] = {}
    loaded: dict[str | None, str] = {}  # location -> sha256: a model two variants share is read once
    served = []
    for variant, location in wanted:
        if location not in loaded:
            body, sha = load_model(settings, location)
            bodies[sha], loaded[location] = body, sha
        served.append(replace(variant, model_sha256=loaded[location]))
    return tuple(served), bodies


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
