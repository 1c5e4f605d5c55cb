"""Per-worker updates: follow the endpoint's row and change the variants the router serves.

`registry.update_endpoint` (a new model) and `registry.update_weights` (a new split) write the
endpoint's variants into its row in the endpoints table. In each server process a
`ModelWatcher` (started by `App.start`) polls that row; when its revision changes (see
`variants.revision`) it builds an `InferenceService` (ORT session, batcher, capture writer) on
its own thread for each variant whose model changed or is new, hands them and the weights to
the `Router` on the event loop, and acknowledges in `endpoint_workers`. A model that will not
load is acknowledged with its error, and the process keeps serving what it served.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from dataclasses import replace

from scones.config import Settings
from scones.endpoint import table, variants
from scones.endpoint.router import Router
from scones.endpoint.service import EndpointConfig, InferenceService
from scones.model.artifact import load
from scones.storage import Store

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25


class ModelWatcher:
    """Follows endpoint `config.name`'s row in one server process and changes `router`'s slots to match."""

    def __init__(
        self, router: Router, config: EndpointConfig, settings: Settings, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.router, self.config, self.settings, self.loop = router, config, settings, loop
        self.revision = variants.revision(
            [
                variants.Variant(n, "served", s.weight, s.model_sha256 or "", s.shadow, s.compare_with, s.compare_share)
                for n, s in router.slots.items()
            ]
        )
        self._failed: str | None = None  # a revision that would not load: not retried every poll
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
            except Exception as exc:  # thread edge: keep serving the current models, say why
                logger.exception("Endpoint update failed; still serving %s", self.revision[:12])
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
        wanted = variants.from_config(record.config, record.model)
        revision = variants.revision(wanted)
        if not revision or revision in (self.revision, self._failed):
            return
        services: dict[str, InferenceService] = {}
        try:
            for variant in wanted:
                slot = self.router.slots.get(variant.name)
                if slot is None or slot.model_sha256 != variant.model_sha256:
                    artifact = load(variant.model, Store(self.settings))
                    config = replace(self.config, variant=variant.name)
                    services[variant.name] = InferenceService(artifact, config, Store(self.settings))
        except Exception:
            for service in services.values():
                service.close()
            self._failed = revision
            raise
        weights = {variant.name: variant.weight for variant in wanted}
        shadows = {variant.name for variant in wanted if variant.shadow}
        compares = {v.name: (v.compare_with, v.compare_share) for v in wanted if v.compare_with}
        update = self.router.apply(weights, services, shadows, compares)
        asyncio.run_coroutine_threadsafe(update, self.loop).result(timeout=120)
        self.revision = revision
        logger.info("Endpoint %s now serves %s", self.config.name, ", ".join(f"{n}={w}" for n, w in weights.items()))
        self._acknowledge()

    def _acknowledge(self, error: str | None = None) -> None:
        if self._conn is None:
            return
        if error is None:
            self._failed = None
        table.acknowledge(self._conn, self.config.name, os.getpid(), self.revision, self._failed, error)
