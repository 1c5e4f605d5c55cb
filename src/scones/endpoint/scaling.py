"""Target tracking: add endpoint workers while load stays above a target, remove them after a cooldown.

As Application Auto Scaling's target tracking on `SageMakerVariantInvocationsPerInstance`, the
metric is invocations per minute per worker (`--target-invocations-per-worker R`), and the
count asked for is ceil(workers x metric / R), between `--min-workers` and `--max-workers`:
- every worker counts its invocations in one shared counter (a multiprocessing Value that the
  app carries into each worker process);
- the `Scaler`, a thread of the server's parent process, samples it every `PERIOD_SECONDS`;
- when every sample over the last `scale_out_seconds` is above the target it scales out; when
  every sample over the last `scale_in_seconds` (the cooldown) is below, it scales in. After a
  change the clock restarts, as AWS's cooldowns do.

uvicorn's supervisor does the work: it starts a worker per SIGTTIN in its queue (the new one
takes connections only once its model is loaded) and stops one per SIGTTOU (SIGTERM: it stops
accepting, finishes the requests it holds, closes its connections), so no request fails. The
Scaler appends to that queue (`Multiprocess.signal_queue`) rather than signalling itself,
because a burst of identical signals can arrive as one. Every change is recorded in
`endpoint_scaling` (`table.py`) with the figures behind it.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from scones import state
from scones.config import Settings
from scones.endpoint import table
from scones.endpoint.service import EndpointConfig

logger = logging.getLogger(__name__)

PERIOD_SECONDS = 1.0


@dataclass
class Tracker:
    """The decision alone (no processes, no clock): feed it samples, it says when to change the count."""

    min_workers: int
    max_workers: int
    target: float  # invocations per worker per minute
    scale_out_seconds: float
    scale_in_seconds: float
    workers: int = 0
    since: float = 0.0  # when the count last changed (or the tracking started)
    samples: deque[tuple[float, float]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.workers = self.workers or self.min_workers

    def observe(self, now: float, per_worker: float) -> int | None:
        """Record one sample of the metric; the new worker count when it should change, else None."""
        self.samples.append((now, per_worker))
        while self.samples and self.samples[0][0] < now - max(self.scale_out_seconds, self.scale_in_seconds) - 1:
            self.samples.popleft()
        for seconds, above in ((self.scale_out_seconds, True), (self.scale_in_seconds, False)):
            if now - self.since < seconds:
                continue  # not watched that long since the last change
            window = [v for t, v in self.samples if t > now - seconds]
            if not window or not all((v > self.target) if above else (v < self.target) for v in window):
                continue
            mean = sum(window) / len(window)
            wanted = min(self.max_workers, max(self.min_workers, math.ceil(self.workers * mean / self.target)))
            if (wanted > self.workers) if above else (wanted < self.workers):
                return wanted
        return None

    def changed(self, now: float, workers: int) -> None:
        self.workers, self.since = workers, now
        self.samples.clear()  # the metric per worker means something else now


class Scaler:
    """Runs the tracker in the server's parent process and asks the supervisor for workers."""

    def __init__(
        self,
        config: EndpointConfig,
        settings: Settings,
        counter: Any,  # multiprocessing Value('q'): invocations, summed over workers
        ask: Callable[[int], None],  # puts SIGTTIN or SIGTTOU in the supervisor's queue
        period: float = PERIOD_SECONDS,
    ) -> None:
        self.config, self.settings, self.counter, self.ask, self.period = config, settings, counter, ask, period
        self.tracker = Tracker(
            config.workers, config.max_workers, config.target_invocations_per_worker,
            config.scale_out_seconds, config.scale_in_seconds, since=time.monotonic(),
        )  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scones-scaler", daemon=True)

    def start(self) -> Scaler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        last, at = self.counter.value, time.monotonic()
        while not self._stop.wait(self.period):
            count, now = self.counter.value, time.monotonic()
            per_worker = (count - last) / max(now - at, 1e-6) * 60 / self.tracker.workers
            last, at = count, now
            wanted = self.tracker.observe(now, per_worker)
            if wanted is not None:
                try:
                    self._scale(wanted, per_worker, now)
                except Exception:  # thread edge: keep the workers there are, say why
                    logger.exception("Scaling %s failed", self.config.name)

    def _scale(self, wanted: int, per_worker: float, now: float) -> None:
        before = self.tracker.workers
        out = wanted > before
        held = self.config.scale_out_seconds if out else self.config.scale_in_seconds
        for _ in range(abs(wanted - before)):
            self.ask(signal.SIGTTIN if out else signal.SIGTTOU)
        self.tracker.changed(now, wanted)
        figures = {
            "invocations_per_worker_per_minute": round(per_worker, 1),
            "target": self.config.target_invocations_per_worker,
            "reason": f"{'above' if out else 'below'} target for {held:g} s",
        }
        logger.info("Endpoint %s: %d -> %d workers (%s)", self.config.name, before, wanted, figures["reason"])
        if not self.settings.state_db.exists():  # no registry (e.g. inside a container): the log says it
            return
        event = table.ScalingEvent(self.config.name, os.getpid(), state.now(), before, wanted, figures)
        with closing(table.connect(self.settings)) as conn:
            table.add_scaling_event(conn, event)
