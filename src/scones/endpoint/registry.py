"""Named endpoints as background processes: deploy, describe, list, update and delete them.

`deploy` starts `scones serve` detached (log: <home>/logs/endpoint-<name>.log), records it
Creating, and returns once /ping answers (InService) or says why not (Failed). Redeploying a
name stops the old process and starts the new one on the same port, so the URL the functions
use never changes. `delete` sends SIGTERM (the server flushes capture) and waits. Records
whose process is gone are reported Failed, never InService.

An endpoint serves one or more production variants (`variants.py`: name, model, weight), all
listed in its row. `update_endpoint` switches a running endpoint to one new model under load,
failing no request, and `update_weights` changes the split: each checks what it is given,
writes the row (status stays InService: the endpoint serves throughout) and waits for every
worker process to acknowledge. Inside each worker a `ModelWatcher` (`watcher.py`) follows that
row and changes the slots through the app's `Router` (`router.py`). Ports, connections and
URLs never change.

The rows themselves are `table.py`'s; the processes are `process.py`'s.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

from scones import state
from scones.config import Settings
from scones.endpoint import process, table, variants
from scones.endpoint.service import EndpointConfig
from scones.endpoint.table import EndpointRecord
from scones.endpoint.variants import Variant
from scones.errors import ArtifactError, ConfigError, EndpointError
from scones.model.artifact import Artifact, load
from scones.storage import Store

LIVE = ("Creating", "InService")
POLL_SECONDS = 0.125  # how often update_endpoint reads the workers' acknowledgements


def resolve_model(settings: Settings, model: str) -> str:
    """A model.tar.gz path, an unpacked folder, an s3:// URI, or a training job name -> location."""
    if model.startswith("s3://"):
        return model
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve())
    if "/" in model or model.endswith((".tar.gz", ".tgz")):
        raise ArtifactError(f"No model at {model}; give an existing model.tar.gz, an s3:// URI or a training job name")
    from scones.model.jobs import artifact_uri  # stage 2a; imported only when a job name is given

    return str(artifact_uri(settings, model))


def deploy(
    settings: Settings,
    config: EndpointConfig,
    model: str | None,
    timeout: float = 60.0,
    production_variants: Sequence[Variant] = (),
) -> EndpointRecord:
    """Start (or restart) endpoint `config.name` serving `model`, or `production_variants`; returns once InService.

    config.port 0 keeps the port of an earlier deployment of the same name, else picks a free one.
    """
    if model and production_variants:
        raise ConfigError("Give --model (one variant) or --variant NAME=MODEL[:WEIGHT] (one or more), not both")
    wanted = list(production_variants) or [Variant(config.variant, model or "")]
    resolved = _resolve(settings, wanted)  # refuse a bad artifact before touching the old endpoint
    artifact = resolved[0][1]
    config = replace(config, variant=wanted[0].name)
    with closing(table.connect(settings)) as conn:
        previous = table.get(conn, config.name)
    port = config.port or (int(previous.config.get("port", 0)) if previous else 0) or process.free_port()
    config = replace(config, port=port)
    if previous is not None:
        process.stop(previous.pid)
    log = process.log_path(settings, config.name)
    details = {
        "port": port, "workers": config.workers, "capture_percent": config.capture_percent,
        **({"scaling": {"min_workers": config.workers, "max_workers": config.max_workers,
                        "target_invocations_per_worker": config.target_invocations_per_worker,
                        "scale_out_seconds": config.scale_out_seconds, "scale_in_seconds": config.scale_in_seconds}}
           if config.max_workers else {}),
        "capture_destination": config.capture_destination, "variant": config.variant,
        "auth": config.auth_token is not None, "classes": artifact.classes,
        "training_job": artifact.manifest.training_job, "model_sha256": artifact.manifest.model_sha256,
        "log": str(log), "variants": [v.to_dict() for v, _ in resolved],
    }  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    location = resolved[0][0].model
    with closing(table.connect(settings)) as conn:
        table.put_creating(conn, config.name, url, location, details, previous.created if previous else state.now())
        server = process.spawn(settings, config, [v for v, _ in resolved], log)
        table.set_pid(conn, config.name, server.pid)
    problem = process.wait_healthy(server, url, timeout)
    with closing(table.connect(settings)) as conn:
        if problem is not None:
            process.stop(server.pid)
            table.mark_failed(conn, config.name, problem)
            raise EndpointError(f"Endpoint {config.name} failed: {problem}; see the log {log}")
        table.set_status(conn, config.name, "InService")
    return describe(settings, config.name)


def describe(settings: Settings, name: str) -> EndpointRecord:
    """One endpoint's record, with its status checked against its process."""
    with closing(table.connect(settings)) as conn:
        return _refresh(conn, _existing(conn, name))


def list_endpoints(settings: Settings) -> list[EndpointRecord]:
    with closing(table.connect(settings)) as conn:
        return [_refresh(conn, record) for record in table.all_records(conn)]


def workers_now(settings: Settings, record: EndpointRecord) -> int:
    """The workers `record`'s server runs now (its last scaling event, else its configured count)."""
    with closing(table.connect(settings)) as conn:
        return table.current_workers(conn, record)


def scaling_events(settings: Settings, name: str) -> list[table.ScalingEvent]:
    """`name`'s scaling events, newest first (every server process it had)."""
    with closing(table.connect(settings)) as conn:
        return table.scaling_events(conn, name)


def delete(settings: Settings, name: str) -> EndpointRecord:
    """Stop the endpoint's process cleanly (capture is flushed) and forget it."""
    with closing(table.connect(settings)) as conn:
        record = _existing(conn, name)
        table.set_status(conn, name, "Deleting")
        process.stop(record.pid)
        table.remove(conn, name)
    return replace(record, status="Deleted")


def update_endpoint(settings: Settings, name: str, model: str, timeout: float = 120.0) -> EndpointRecord:
    """Point endpoint `name` at `model` (all traffic, first variant's name); return once every worker serves it."""
    record = _in_service(settings, name)
    current = variants.from_config(record.config, record.model)
    shadows = [v for v in current if v.shadow]  # a shadow stays; the production variants become this one
    (variant, artifact), *_ = _resolve(settings, [Variant(current[0].name, model)])  # refused before anything changes
    changes = {
        "classes": artifact.classes, "training_job": artifact.manifest.training_job,
        "model_sha256": variant.model_sha256, "variants": [v.to_dict() for v in (variant, *shadows)],
    }  # fmt: skip
    return _apply(settings, record, variant.model, changes, timeout)


def update_weights(
    settings: Settings, name: str, weights: Mapping[str, float], timeout: float = 120.0
) -> EndpointRecord:
    """Change the traffic split of endpoint `name` live (UpdateEndpointWeightsAndCapacities); return once applied."""
    record = _in_service(settings, name)
    current = variants.from_config(record.config, record.model)
    unknown = set(weights) - {v.name for v in current}
    if unknown:
        raise ConfigError(
            f"{name} has no variant {', '.join(sorted(unknown))}; its variants are {', '.join(v.name for v in current)}"
        )
    changed = [replace(v, weight=weights.get(v.name, v.weight)) for v in current]
    variants.check(changed)
    return _apply(settings, record, record.model, {"variants": [v.to_dict() for v in changed]}, timeout)


def resolve_variants(settings: Settings, wanted: Sequence[Variant]) -> list[Variant]:
    """`wanted` with each model located, checked and its sha256 recorded (ConfigError/ArtifactError if not)."""
    return [variant for variant, _ in _resolve(settings, wanted)]


def apply_variants(settings: Settings, name: str, wanted: Sequence[Variant], timeout: float = 120.0) -> EndpointRecord:
    """Serve exactly `wanted` (resolved, see `resolve_variants`) on running endpoint `name`; return once applied."""
    variants.check(wanted)
    record = _in_service(settings, name)
    first = wanted[0]
    changes = {"variants": [v.to_dict() for v in wanted], "variant": first.name, "model_sha256": first.model_sha256}
    return _apply(settings, record, first.model, changes, timeout)


def in_service(settings: Settings, name: str) -> EndpointRecord:
    """`name`'s record, or EndpointError unless it is InService."""
    return _in_service(settings, name)


def _in_service(settings: Settings, name: str) -> EndpointRecord:
    record = describe(settings, name)
    if record.status != "InService":
        raise EndpointError(f"Endpoint {name} is {record.status}, not InService; redeploy it with 'scones deploy'")
    return record


def _apply(
    settings: Settings, record: EndpointRecord, model: str, changes: dict[str, Any], timeout: float
) -> EndpointRecord:
    """Write `changes` into the row and wait for every worker; on failure the row goes back to what they serve."""
    config = {**record.config, **changes}
    revision = variants.revision(variants.from_config(config, model))
    with closing(table.connect(settings)) as conn:
        table.point(conn, record.name, model, config)
        try:
            _wait_for_workers(conn, record.name, revision, table.current_workers(conn, record), timeout)
        except EndpointError:
            table.point(conn, record.name, record.model, record.config)  # back to what the workers still serve
            raise
    return describe(settings, record.name)


def _resolve(settings: Settings, wanted: Sequence[Variant]) -> list[tuple[Variant, Artifact]]:
    """Each variant with its model located, loaded (checked) and its sha256; all must share the classes."""
    variants.check(wanted)
    resolved = []
    for variant in wanted:
        location = resolve_model(settings, variant.model)
        artifact = load(location, Store(settings))
        resolved.append((replace(variant, model=location, model_sha256=artifact.manifest.model_sha256), artifact))
    classes = {tuple(artifact.classes) for _, artifact in resolved}
    if len(classes) > 1:
        raise ConfigError(f"Variants must predict the same classes; got {' vs '.join(map(str, sorted(classes)))}")
    return resolved


def _wait_for_workers(conn: sqlite3.Connection, name: str, sha: str, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        live = [ack for ack in table.acknowledgements(conn, name) if process.alive(ack.pid, server=False)]
        errors = [ack.error for ack in live if ack.failed_sha256 == sha and ack.error]
        if errors:
            raise EndpointError(f"Endpoint {name} kept its old model: {errors[0]}; fix the model and update again")
        done = sum(1 for ack in live if ack.model_sha256 == sha)
        if done >= workers:
            return
        if time.monotonic() > deadline:
            raise EndpointError(
                f"Only {done} of {workers} workers of {name} switched within {timeout:.0f} s; "
                "see its log ('scones describe-endpoint') and run update-endpoint again"
            )
        time.sleep(POLL_SECONDS)


def _existing(conn: sqlite3.Connection, name: str) -> EndpointRecord:
    record = table.get(conn, name)
    if record is None:
        raise EndpointError(f"No endpoint named {name!r}; run 'scones endpoints' to list them")
    return record


def _refresh(conn: sqlite3.Connection, record: EndpointRecord) -> EndpointRecord:
    if record.status not in LIVE or process.alive(record.pid):
        return record
    if record.status == "Creating" and record.pid is None:
        return record  # a deploy in another process is starting it right now
    reason = f"process {record.pid} is gone (crashed or killed); redeploy with 'scones deploy'"
    table.mark_failed(conn, record.name, reason)
    return replace(record, status="Failed", failure_reason=reason)
