"""Named endpoints as background processes, recorded in the state database (`endpoints`).

`deploy` starts `scones serve` detached (log: <home>/logs/endpoint-<name>.log), records it
Creating, and returns once /ping answers (InService) or says why not (Failed). Redeploying a
name stops the old process and starts the new one on the same port, so the URL the functions
use never changes. `delete` sends SIGTERM (the server flushes capture) and waits. Records
whose process is gone are reported Failed, never InService.

Consumers read `SELECT url, status FROM endpoints WHERE name=?` with plain sqlite3.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from scones import state
from scones.config import Settings, environ_with
from scones.endpoint.service import EndpointConfig
from scones.errors import ArtifactError, EndpointError
from scones.model.artifact import load
from scones.storage import Store

DDL = """
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY,
    url TEXT,
    status TEXT NOT NULL,        -- Creating | InService | Failed | Deleting
    pid INTEGER,
    model TEXT,                  -- the artifact location the server loaded
    config TEXT,                 -- JSON: port, workers, capture, classes, log, ...
    created TEXT,
    updated TEXT,
    failure_reason TEXT
);
"""
LIVE = ("Creating", "InService")
STOP_SECONDS = 35.0  # the server's graceful shutdown plus the capture flush


@dataclass(frozen=True)
class EndpointRecord:
    name: str
    url: str
    status: str
    pid: int | None
    model: str
    config: dict[str, Any]
    created: str
    updated: str
    failure_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _conn(settings: Settings) -> Iterator[sqlite3.Connection]:
    conn = state.connect(settings)
    try:
        state.ensure_table(conn, "endpoints", DDL)
        yield conn
    finally:
        conn.close()


def log_path(settings: Settings, name: str) -> Path:
    return settings.logs_dir / f"endpoint-{name}.log"


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
    with _conn(settings) as conn:
        previous = _get(conn, config.name)
    port = config.port or (int(previous.config.get("port", 0)) if previous else 0) or _free_port()
    config = replace(config, port=port)
    if previous is not None:
        _stop(previous.pid)
    log = log_path(settings, config.name)
    details = {
        "port": port, "workers": config.workers, "capture_percent": config.capture_percent,
        "capture_destination": config.capture_destination, "variant": config.variant,
        "auth": config.auth_token is not None, "classes": artifact.classes,
        "training_job": artifact.manifest.training_job, "model_sha256": artifact.manifest.model_sha256,
        "log": str(log),
    }  # fmt: skip
    now = state.now()
    url = f"http://127.0.0.1:{port}"
    with _conn(settings) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO endpoints (name, url, status, pid, model, config, created, updated, failure_reason)"
            " VALUES (?, ?, 'Creating', NULL, ?, ?, ?, ?, NULL)",
            (config.name, url, location, state.dumps(details), previous.created if previous else now, now),
        )
        process = _spawn(settings, config, location, log)
        conn.execute("UPDATE endpoints SET pid=?, updated=? WHERE name=?", (process.pid, state.now(), config.name))
    problem = _wait_healthy(process, url, timeout)
    with _conn(settings) as conn:
        if problem is not None:
            _stop(process.pid)
            _mark_failed(conn, config.name, problem)
            raise EndpointError(f"Endpoint {config.name} failed: {problem}; see the log {log}")
        conn.execute("UPDATE endpoints SET status='InService', updated=? WHERE name=?", (state.now(), config.name))
    return describe(settings, config.name)


def describe(settings: Settings, name: str) -> EndpointRecord:
    """One endpoint's record, with its status checked against its process."""
    with _conn(settings) as conn:
        record = _get(conn, name)
        if record is None:
            raise EndpointError(f"No endpoint named {name!r}; run 'scones endpoints' to list them")
        return _refresh(conn, record)


def list_endpoints(settings: Settings) -> list[EndpointRecord]:
    with _conn(settings) as conn:
        rows = conn.execute("SELECT * FROM endpoints ORDER BY name").fetchall()
        return [_refresh(conn, _record(row)) for row in rows]


def delete(settings: Settings, name: str) -> EndpointRecord:
    """Stop the endpoint's process cleanly (capture is flushed) and forget it."""
    with _conn(settings) as conn:
        record = _get(conn, name)
        if record is None:
            raise EndpointError(f"No endpoint named {name!r}; run 'scones endpoints' to list them")
        conn.execute("UPDATE endpoints SET status='Deleting', updated=? WHERE name=?", (state.now(), name))
        _stop(record.pid)
        conn.execute("DELETE FROM endpoints WHERE name=?", (name,))
    return replace(record, status="Deleted")


# -- processes ----------------------------------------------------------------------------------
def _spawn(settings: Settings, config: EndpointConfig, location: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from scones.cli import main; main()", "--home", str(settings.home)]
    command += ["--bucket", settings.bucket, "--storage", settings.storage]
    if settings.s3_endpoint_url:
        command += ["--s3-endpoint-url", settings.s3_endpoint_url]
    command += ["serve", "--model", location, "--name", config.name, "--port", str(config.port)]
    command += ["--workers", str(config.workers), "--capture-percent", str(config.capture_percent)]
    command += ["--variant", config.variant]
    if config.capture_destination:
        command += ["--capture-destination", config.capture_destination]
    # The token travels in the environment, never on the command line (which `ps` shows).
    env = environ_with(SCONES_AUTH_TOKEN=config.auth_token or "")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        handle.write(f"\n=== {state.now()} deploy {config.name} on port {config.port}\n".encode())
        handle.flush()
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, close_fds=True,
        )  # fmt: skip


def _wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float) -> str | None:
    """None once /ping says 200; else why not (the process exited, or the time ran out)."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                return f"the server exited with code {code} before it was healthy"
            try:
                if client.get(f"{url}/ping").status_code == 200:
                    return None
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(0.1)
    return f"/ping was not healthy within {timeout:.0f} s"


def _alive(pid: int | None) -> bool:
    """Whether `pid` is a running scones server (not a zombie, not a recycled pid)."""
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own finished child
    except ChildProcessError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    except OSError:  # no /proc (not Linux): fall back to a signal probe
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return status != "Z" and b"scones" in cmdline and b"serve" in cmdline


def _stop(pid: int | None, timeout: float = STOP_SECONDS) -> None:
    """SIGTERM, wait for a clean exit (capture flushed), SIGKILL only as a last resort."""
    if pid is None or not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- rows ---------------------------------------------------------------------------------------
def _get(conn: sqlite3.Connection, name: str) -> EndpointRecord | None:
    row = conn.execute("SELECT * FROM endpoints WHERE name=?", (name,)).fetchone()
    return _record(row) if row else None


def _record(row: sqlite3.Row) -> EndpointRecord:
    return EndpointRecord(
        name=row["name"], url=row["url"], status=row["status"], pid=row["pid"], model=row["model"],
        config=state.loads(row["config"]) or {}, created=row["created"], updated=row["updated"],
        failure_reason=row["failure_reason"],
    )  # fmt: skip


def _refresh(conn: sqlite3.Connection, record: EndpointRecord) -> EndpointRecord:
    if record.status not in LIVE or _alive(record.pid):
        return record
    if record.status == "Creating" and record.pid is None:
        return record  # a deploy in another process is starting it right now
    reason = f"process {record.pid} is gone (crashed or killed); redeploy with 'scones deploy'"
    _mark_failed(conn, record.name, reason)
    return replace(record, status="Failed", failure_reason=reason)


def _mark_failed(conn: sqlite3.Connection, name: str, reason: str) -> None:
    conn.execute(
        "UPDATE endpoints SET status='Failed', failure_reason=?, updated=? WHERE name=?", (reason, state.now(), name)
    )
