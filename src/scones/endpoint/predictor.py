"""Inference: an ONNX Runtime session over the artifact, and a dynamic batcher in front of it.

The batcher owns one inference thread per lane (by default one lane per core). Requests hand
it decoded uint8 images and await a future; a free lane takes everything queued (up to
`max_batch_size`), normalises the batch in one NumPy pass and runs the session once, on its
own thread only (ORT with one intra-op thread). ORT releases the GIL while it runs, so the
other lane runs the next batch and the event loop parses and decodes the requests after it
(continuous batching). A lane waits up to `max_wait_ms` for more only while other requests
are known to be on their way in, so a lone request at concurrency 1 never waits.

Lanes rather than one session split over the cores: ORT's intra-op pool splits each batch
between its threads and waits for the slowest, which cost ~20% more CPU per image than one
thread on this model (1.73 against 1.45 ms, measured per thread under load) and stalls the
batch whenever one thread loses its core on a busy machine. Independent lanes are what the
batching peers do with one worker process per core (bench/peers), without a second process.

A lane that has just run a batch stays warm for `WARM_SECONDS`: it looks for work every
millisecond instead of sleeping until notified, as LitServe's workers do. On the shared
machine a sleeping thread waited to be scheduled at every hand-off; the warm lanes gave
c=8 p99 92-100 ms against 131-234 and more req/s at c=8 and c=64 side by side
(docs/benchmarks.md, "Peers"). Idle, the lanes sleep: no wake-ups when no traffic comes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scones.endpoint.errors import ModelError, ServiceUnavailable
from scones.errors import ArtifactError
from scones.model.artifact import Artifact
from scones.model.preprocess import to_input

logger = logging.getLogger(__name__)
WARM_SECONDS = 0.05  # how long a lane polls for work after its last batch (see the module docstring)
POLL_SECONDS = 0.001


def usable_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Predictor:
    """The artifact's ONNX model on ONNX Runtime's CPU provider."""

    def __init__(self, artifact: Artifact, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or usable_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning ORT threads would steal the cores the event loop needs between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(artifact.onnx, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own untyped errors; this is the boundary
            raise ArtifactError(
                f"ONNX Runtime cannot load the model ({exc}); re-export it with 'scones train'"
            ) from exc
        self.manifest = artifact.manifest
        self.threads = options.intra_op_num_threads

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 3, H, W) normalised -> float32 (N, num_classes) probabilities."""
        try:
            outputs = self.session.run([self.manifest.output_name], {self.manifest.input_name: batch})
        except Exception as exc:  # ORT's errors are not a public hierarchy; translate them here
            raise ModelError(f"The model failed on this input ({type(exc).__name__}: {exc})") from exc
        return np.asarray(outputs[0], dtype=np.float32)

    def predict_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) RGB -> probabilities, normalised as the manifest says."""
        return self.predict(to_input(images, self.manifest.preprocessing))


@dataclass(frozen=True)
class BatchConfig:
    """How requests are grouped.

    Attributes:
        max_batch_size: most images per session run. Small on purpose: for a ResNet on 32x32
            inputs, batches of 4-8 ran fastest per image on the 2-core development machine, while
            16 or 32 ran several times slower (activations outgrow the CPU caches); see
            docs/benchmarks.md.
        max_wait_ms: longest a batch waits for requests already on their way in.
        threads: inference lanes, each running ORT on one thread; 0 means one per usable core.
    """

    max_batch_size: int = 8
    max_wait_ms: float = 2.0
    threads: int = 0

    def lanes(self) -> int:
        return self.threads or usable_cores()


class _Item:
    __slots__ = ("image", "future", "loop")

    def __init__(self, image: np.ndarray, future: asyncio.Future[np.ndarray], loop: asyncio.AbstractEventLoop):
        self.image, self.future, self.loop = image, future, loop


class Batcher:
    """Groups concurrent `predict` calls into batches run on one inference thread."""

    def __init__(
        self,
        predictor: Predictor,
        config: BatchConfig,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.predictor = predictor
        self.max_batch_size = max(1, config.max_batch_size)
        self.max_wait = max(0.0, config.max_wait_ms) / 1000
        self._on_batch = on_batch or (lambda n: None)
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._arriving = 0
        self._closed = False
        self._last_batch = 0.0
        self._threads = [
            threading.Thread(target=self._run, name=f"scones-batcher-{lane}", daemon=True)
            for lane in range(config.lanes())
        ]
        for thread in self._threads:
            thread.start()

    # -- request side (event loop) -------------------------------------------------------------
    def arriving(self, delta: int) -> None:
        """Requests whose body is being read or decoded (+1), or that gave up (-1)."""
        with self._cond:
            self._arriving += delta

    async def predict(self, image: np.ndarray, *, was_arriving: bool = False) -> np.ndarray:
        """uint8 (H, W, 3) -> probabilities (num_classes,)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        with self._cond:
            if was_arriving:
                self._arriving -= 1
            if self._closed:
                raise ServiceUnavailable("The endpoint is shutting down; retry on another instance")
            self._queue.append(_Item(image, future, loop))
            self._cond.notify()
        return await future

    def close(self) -> None:
        """Finish what is queued, then stop the threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        deadline = time.monotonic() + 30
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- inference thread ----------------------------------------------------------------------
    def _take(self) -> list[_Item] | None:
        with self._cond:
            while not self._queue and not self._closed:
                warm = time.monotonic() - self._last_batch < WARM_SECONDS
                self._cond.wait(POLL_SECONDS if warm else None)
            if not self._queue:
                return None
            deadline = time.monotonic() + self.max_wait
            # Wait only for requests already inside the server, never for ones that may not come.
            while len(self._queue) < self.max_batch_size and self._arriving > 0 and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            count = min(len(self._queue), self.max_batch_size)
            return [self._queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        while (items := self._take()) is not None:
            self._last_batch = time.monotonic()  # any lane's batch keeps every lane warm
            self._on_batch(len(items))
            try:
                probabilities = self.predictor.predict_images(np.stack([item.image for item in items]))
                results: list[np.ndarray | BaseException] = list(probabilities)
            except Exception as exc:  # the thread edge: every waiting request must get an answer
                if not isinstance(exc, ModelError):
                    logger.exception("Batch of %d failed", len(items))
                results = [exc] * len(items)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Item, np.ndarray | BaseException]]] = {}
            for item, result in zip(items, results, strict=True):
                by_loop.setdefault(item.loop, []).append((item, result))
            for loop, pairs in by_loop.items():  # one wake-up per loop per batch
                try:
                    loop.call_soon_threadsafe(_resolve, pairs)
                except RuntimeError:  # that loop has closed: nobody is waiting any more
                    continue


def _resolve(pairs: list[tuple[_Item, np.ndarray | BaseException]]) -> None:
    for item, result in pairs:
        if item.future.done():  # the client went away
            continue
        if isinstance(result, BaseException):
            item.future.set_exception(result)
        else:
            item.future.set_result(result)
