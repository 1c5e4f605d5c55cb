"""The slot an endpoint serves from: one production variant's current `InferenceService`.

The App takes the service from its slot for each request; a `ModelWatcher` swaps a new one in
through `swap`, which closes the old service once the requests already inside it have finished.
Neither holds the other: the App owns the slot, the watcher is given it.

An endpoint has one slot per production variant, each with its weight; the App's `Router`
(`router.py`) picks the slot for each request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from scones.endpoint.errors import ServiceUnavailable
from scones.endpoint.service import InferenceService


class ModelSlot:
    """A production variant: its name, its share of traffic, and the service answering for it."""

    def __init__(
        self, variant: str, weight: float = 1.0, service: InferenceService | None = None, shadow: bool = False
    ) -> None:
        self.variant, self.weight, self.shadow = variant, weight, shadow  # a shadow's weight: the share it mirrors
        self.service = service
        self.compare_with, self.compare_share = "", 0.0  # a candidate's mirrored comparison (see shadow.Mirror)

    @property
    def model_sha256(self) -> str | None:
        return self.service.manifest.model_sha256 if self.service is not None else None

    def ready(self) -> InferenceService:
        """The current service, or 503 while there is none that takes requests."""
        service = self.service
        if service is None or not service.ready:
            raise ServiceUnavailable()
        return service

    @contextmanager
    def serving(self) -> Iterator[InferenceService]:
        """The current service, counted in flight so that a swap closes it only once idle."""
        service = self.ready()
        service.in_flight += 1
        try:
            yield service
        finally:
            service.in_flight -= 1

    async def swap(self, service: InferenceService) -> None:
        """On the event loop: new requests go to `service`; the old one closes once it is idle."""
        old, self.service = self.service, service
        if old is not None:
            await _close_when_idle(old)

    async def retire(self) -> None:
        """On the event loop, once the slot takes no new requests: close its service when idle."""
        if self.service is not None:
            await _close_when_idle(self.service)

    def close(self) -> None:
        if self.service is not None:
            self.service.close()


async def _close_when_idle(service: InferenceService) -> None:
    while service.in_flight:
        await asyncio.sleep(0.005)
    await asyncio.get_running_loop().run_in_executor(None, service.close)  # flushes capture, stops its batcher
