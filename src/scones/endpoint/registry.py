"""Named endpoints as background processes: deploy, describe, list, update and delete them.

`deploy` starts `scones serve` detached (log: <home>/logs/endpoint-<name>.log), records it
Creating, and returns once /ping answers (InService) or says why not (Failed). Redeploying a
name stops the old process and starts the new one on the same port, so the URL the functions
use never changes. `delete` sends SIGTERM (the server flushes capture) and waits. Records
whose process is gone are reported Failed, never InService.

`update_endpoint` switches a running endpoint's model under load, failing no request: it checks
the new artifact, moves the model pointer in the endpoint's row (status stays InService: the
endpoint serves throughout) and waits for every worker process to acknowledge. Inside each
worker a `ModelWatcher` (`watcher.py`) follows that row and swaps the model through the app's
`ModelSlot` (`slot.py`). Ports, connections and URLs never change.

The rows themselves are `table.py`'s; the processes are `process.py`'s.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from scones import state
from scones.config import Settings
from scones.endpoint import process, table
from scones.endpoint.service import EndpointConfig
from scones.endpoint.table import EndpointRecord
from scones.errors import ArtifactError, EndpointError
from scones.model.artifact import load
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


def deploy(settings: Settings, config: EndpointConfig, model: str, timeout: float = 60.0) -> EndpointRecord:
    """Start (or restart) endpoint `config.name` serving `model`; returns once it is InService.

    config.port 0 keeps the port of an earlier deployment of the same name, else picks a free one.
    """
    location = resolve_model(settings, model)
    artifact = load(location, Store(settings))  # refuse a bad artifact before touching the old endpoint
    with closing(table.connect(settings)) as conn:
        previous = table.get(conn, config.name)
    port = config.port or (int(previous.config.get("port", 0)) if previous else 0) or process.free_port()
    config = replace(config, port=port)
    if previous is not None:
        process.stop(previous.pid)
    log = process.log_path(settings, config.name)
    details = {
        "port": port, "workers": config.workers, "capture_percent": config.capture_percent,
        "capture_destination": config.capture_destination, "variant": config.variant,
        "auth": config.auth_token is not None, "classes": artifact.classes,
        "training_job": artifact.manifest.training_job, "model_sha256": artifact.manifest.model_sha256,
        "log": str(log),
    }  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with closing(table.connect(settings)) as conn:
        table.put_creating(conn, config.name, url, location, details, previous.created if previous else state.now())
        server = process.spawn(settings, config, location, log)
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


def delete(settings: Settings, name: str) -> EndpointRecord:
    """Stop the endpoint's process cleanly (capture is flushed) and forget it."""
    with closing(table.connect(settings)) as conn:
        record = _existing(conn, name)
        table.set_status(conn, name, "Deleting")
        process.stop(record.pid)
        table.remove(conn, name)
    return replace(record, status="Deleted")


def update_endpoint(settings: Settings, name: str, model: str, timeout: float = 120.0) -> EndpointRecord:
    """Point endpoint `name` at `model` and return once every worker serves it."""
    record = describe(settings, name)
    if record.status != "InService":
        raise EndpointError(f"Endpoint {name} is {record.status}, not InService; redeploy it with 'scones deploy'")
    location = resolve_model(settings, model)
    artifact = load(location, Store(settings))  # a bad artifact is refused before anything changes
    sha = artifact.manifest.model_sha256
    config = {
        **record.config,
        "classes": artifact.classes,
        "training_job": artifact.manifest.training_job,
        "model_sha256": sha,
    }
    with closing(table.connect(settings)) as conn:
        table.point(conn, name, location, config)
        try:
            _wait_for_workers(conn, name, sha, int(record.config.get("workers", 1)), timeout)
        except EndpointError:
            table.point(conn, name, record.model, record.config)  # back to what the workers still serve
            raise
    return describe(settings, name)


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
