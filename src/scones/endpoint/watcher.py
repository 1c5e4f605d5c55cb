"""Per-worker model updates: follow the endpoint's row and swap the model through its slot.

`registry.update_endpoint` moves the model pointer in the endpoints table. In each server
process a `ModelWatcher` (started by `App.start`) polls that row; when the model's sha256
changes it builds a second `InferenceService` (ORT session, batcher, capture writer) on its own
thread, hands it to the `ModelSlot` on the event loop, and acknowledges in `endpoint_workers`.
A model that will not load is acknowledged with its error, and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading

from scones.config import Settings
from scones.endpoint import table
from scones.endpoint.service import EndpointConfig, InferenceService
from scones.endpoint.slot import ModelSlot
from scones.model.artifact import load
from scones.storage import Store

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25


class ModelWatcher:
    """Follows endpoint `config.name`'s row in one server process and swaps `slot`'s model when it changes."""

    def __init__(
        self, slot: ModelSlot, config: EndpointConfig, settings: Settings, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.slot, self.config, self.settings, self.loop = slot, config, settings, loop
        self.sha = slot.model_sha256 or ""
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

    def _wanted(self) -> table.EndpointRecord | None:
        """This endpoint's row, when this process is the registered server (or one of its workers)."""
        if self._conn is None:
            if not self.settings.state_db.exists():  # no registry here (e.g. inside a SageMaker container)
                return None
            self._conn = table.connect(self.settings)
            self._acknowledge()
        record = table.get(self._conn, self.config.name)
        # Only the registered server follows the row (workers are children of that process).
        if record is None or record.pid not in (os.getpid(), os.getppid()):
            return None
        return record

    def _check(self) -> None:
        record = self._wanted()
        if record is None:
            return
        wanted = record.config.get("model_sha256")
        if not wanted or wanted in (self.sha, self._failed):
            return
        try:
            artifact = load(record.model, Store(self.settings))
            service = InferenceService(artifact, self.config, Store(self.settings))
        except Exception:
            self._failed = wanted
            raise
        asyncio.run_coroutine_threadsafe(self.slot.swap(service), self.loop).result(timeout=120)
        self.sha = artifact.manifest.model_sha256
        logger.info("Endpoint %s now serves model %s", self.config.name, self.sha[:12])
        self._acknowledge()

    def _acknowledge(self, error: str | None = None) -> None:
        if self._conn is None:
            return
        if error is None:
            self._failed = None
        table.acknowledge(self._conn, self.config.name, os.getpid(), self.sha, self._failed, error)
