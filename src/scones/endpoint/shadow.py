"""Shadow testing: a copy of production's requests goes to the shadow variant, off the request path.

After production has answered, `Mirror.offer` starts the shadow's inference as a task of its
own and returns at once; the caller's response never waits for it, and whatever the shadow does
(slow, failing, closed) is counted in its metrics and nowhere else. Both records carry the same
`inferenceId` in capture, so `shadow_report.py` compares the two models request by request.

Sampling is deterministic (a running credit, like the router's turn): a shadow at 25% gets
exactly every fourth request. At most `MAX_IN_FLIGHT` copies wait at once; beyond that a copy
is dropped and counted, so a shadow slower than the traffic cannot pile up work without bound.

The same machinery serves a deployment's disagreement trigger: `compare` sends a share of the
candidate's requests, once the candidate has answered, to the old model, and counts whether the
two predicted the same class in the candidate's metrics (`scones_endpoint_mirror_comparisons_total`);
the copy is neither captured nor counted as the old model's traffic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from typing import Any

from scones.endpoint.errors import RequestError
from scones.endpoint.slot import ModelSlot

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 256


class Mirror:
    """Sends shares of the traffic to a shadow slot (one per endpoint process)."""

    def __init__(self) -> None:
        self._credit = 0.0
        self._compare_credit: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # held, or the loop may collect them mid-flight

    def wanted(self, slot: ModelSlot | None) -> bool:
        """Whether this request is in the shadow's share (checked before production answers)."""
        if slot is None:
            return False
        self._credit += slot.weight
        if self._credit < 1.0:
            return False
        self._credit -= 1.0
        return True

    def offer(self, slot: ModelSlot, body: bytes, content_type: str, inference_id: str) -> None:
        """Start the shadow's copy of a request; never raises, never waits."""
        service = slot.service
        if service is None or not service.ready:
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            service.metrics.requests.labels("shadow", "dropped").inc()
            return
        self._start(self._run(slot, body, content_type, inference_id))

    def compare(self, slot: ModelSlot, old: ModelSlot | None, reply: bytes, body: bytes) -> None:
        """Maybe mirror a request `slot` answered with `reply` to `old`, and count the agreement; never waits."""
        if old is None or not slot.compare_share or old.service is None or slot.service is None:
            return
        credit = self._compare_credit.get(slot.variant, 0.0) + slot.compare_share
        self._compare_credit[slot.variant] = credit - 1.0 if credit >= 1.0 else credit
        if credit < 1.0 or len(self._tasks) >= MAX_IN_FLIGHT:
            return
        self._start(self._compare(slot.service.metrics.comparisons, old, reply, body))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _compare(self, counter: Any, old: ModelSlot, reply: bytes, body: bytes) -> None:
        answer = json.loads(reply)
        ours = answer["prediction"] if isinstance(answer, dict) else answer
        try:
            with old.serving() as service:
                theirs = await service.probabilities(body)
        except RequestError:  # the old model is being retired, or refused the copy: nothing to compare
            return
        except Exception:
            logger.exception("Mirrored comparison on %s failed", old.variant)
            return
        agreed = max(range(len(ours)), key=ours.__getitem__) == int(theirs.argmax())
        counter.labels("yes" if agreed else "no").inc()

    async def _run(self, slot: ModelSlot, body: bytes, content_type: str, inference_id: str) -> None:
        started = time.perf_counter()
        status = "200"
        try:
            with slot.serving() as service:
                try:
                    await service.invoke(body, content_type, "", inference_id)
                except RequestError as exc:
                    status = str(exc.status)
                except Exception:  # the shadow's failure stays the shadow's
                    logger.exception("Shadow %s failed on request %s", slot.variant, inference_id)
                    status = "500"
                service.metrics.requests.labels("shadow", status).inc()
                service.metrics.shadow_latency.observe(time.perf_counter() - started)
        except RequestError:  # the shadow is being swapped or closed: this copy is skipped
            return

    async def drain(self) -> None:
        """Wait for the copies in flight (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
