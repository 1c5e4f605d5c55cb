"""`scones update-endpoint`: switch a running endpoint's model under load, failing no request.

The endpoints table is the pointer. `update_endpoint` checks the new artifact, writes its
location and sha256 into the endpoint's row (status stays InService: the endpoint serves
throughout), and waits for every worker process to acknowledge. Inside each worker a
`ModelWatcher` (started by `App.start`) polls that row; when the sha changes it builds a second
`InferenceService` (ORT session, batcher, capture writer) on its own thread, swaps it in on the
event loop, and closes the old one once the requests already inside it have finished. Ports,
connections and URLs never change, so clients only notice the new answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any

from scones import state
from scones.config import Settings
from scones.endpoint.registry import EndpointRecord, describe, resolve_model
from scones.endpoint.service import InferenceService
from scones.errors import EndpointError
from scones.model.artifact import load
from scones.storage import Store

if TYPE_CHECKING:
    from scones.endpoint.app import App

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
WORKERS_DDL = """
CREATE TABLE IF NOT EXISTS endpoint_workers (
    name TEXT NOT NULL,
    pid INTEGER NOT NULL,
    model_sha256 TEXT,           -- the model this worker serves
    failed_sha256 TEXT,          -- the last model it could not load, and why
    error TEXT,
    updated TEXT,
    PRIMARY KEY (name, pid)
);
"""


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
    conn = state.connect(settings)
    try:
        state.ensure_table(conn, "endpoint_workers", WORKERS_DDL)
        _point(conn, name, location, config)
        try:
            _wait_for_workers(conn, name, sha, int(record.config.get("workers", 1)), timeout)
        except EndpointError:
            _point(conn, name, record.model, record.config)  # back to what the workers still serve
            raise
    finally:
        conn.close()
    return describe(settings, name)


def _point(conn: sqlite3.Connection, name: str, location: str, config: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE endpoints SET model=?, config=?, updated=? WHERE name=?",
        (location, state.dumps(config), state.now(), name),
    )


def _wait_for_workers(conn: sqlite3.Connection, name: str, sha: str, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = conn.execute(
            "SELECT pid, model_sha256, failed_sha256, error FROM endpoint_workers WHERE name=?", (name,)
        ).fetchall()
        live = [r for r in rows if _alive(r["pid"])]
        errors = [r["error"] for r in live if r["failed_sha256"] == sha and r["error"]]
        if errors:
            raise EndpointError(f"Endpoint {name} kept its old model: {errors[0]}; fix the model and update again")
        done = sum(1 for r in live if r["model_sha256"] == sha)
        if done >= workers:
            return
        if time.monotonic() > deadline:
            raise EndpointError(
                f"Only {done} of {workers} workers of {name} switched within {timeout:.0f} s; "
                "see its log ('scones describe-endpoint') and run update-endpoint again"
            )
        time.sleep(POLL_SECONDS / 2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class ModelWatcher:
    """Follows the endpoint's row in one server process and hot-swaps the model when it changes."""

    def __init__(self, app: App, loop: asyncio.AbstractEventLoop) -> None:
        self.app, self.loop = app, loop
        self.sha = app.artifact.manifest.model_sha256
        self._failed: str | None = None  # a sha that would not load: not retried every poll
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="scones-model-watcher", daemon=True)

    def start(self) -> ModelWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._check()
            except Exception as exc:  # thread edge: keep serving the current model, say why
                logger.exception("Model update failed; still serving %s", self.sha[:12])
                self._acknowledge(error=f"{type(exc).__name__}: {exc}")
        if self._conn is not None:
            self._conn.close()

    def _row(self) -> sqlite3.Row | None:
        settings = self.app.settings
        if self._conn is None:
            if not settings.state_db.exists():  # no registry here (e.g. inside a SageMaker container)
                return None
            self._conn = state.connect(settings)
            state.ensure_table(self._conn, "endpoint_workers", WORKERS_DDL)
            self._acknowledge()
        try:
            row = self._conn.execute(
                "SELECT model, config, pid FROM endpoints WHERE name=?", (self.app.config.name,)
            ).fetchone()
        except sqlite3.OperationalError:  # no endpoints table yet
            return None
        # Only the registered server follows the row (workers are children of that process).
        if row is None or row["pid"] not in (os.getpid(), os.getppid()):
            return None
        return row  # type: ignore[no-any-return]

    def _check(self) -> None:
        row = self._row()
        if row is None:
            return
        wanted = (json.loads(row["config"] or "{}") or {}).get("model_sha256")
        if not wanted or wanted in (self.sha, self._failed):
            return
        try:
            artifact = load(row["model"], Store(self.app.settings))
            service = InferenceService(artifact, self.app.config, Store(self.app.settings))
        except Exception:
            self._failed = wanted
            raise
        asyncio.run_coroutine_threadsafe(self._swap(artifact, service), self.loop).result(timeout=120)
        self.sha = artifact.manifest.model_sha256
        logger.info("Endpoint %s now serves model %s", self.app.config.name, self.sha[:12])
        self._acknowledge()

    async def _swap(self, artifact: Any, service: InferenceService) -> None:
        """On the event loop: new requests go to `service`; the old one closes once it is idle."""
        old = self.app.service
        self.app.artifact, self.app.service = artifact, service
        if old is None:
            return
        while old.in_flight:
            await asyncio.sleep(0.005)
        await self.loop.run_in_executor(None, old.close)  # flushes its capture, stops its batcher

    def _acknowledge(self, error: str | None = None) -> None:
        if self._conn is None:
            return
        if error is None:
            self._failed = None
        self._conn.execute(
            "INSERT OR REPLACE INTO endpoint_workers (name, pid, model_sha256, failed_sha256, error, updated) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self.app.config.name, os.getpid(), self.sha, self._failed, error, state.now()),
        )
