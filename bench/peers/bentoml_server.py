"""The BentoML peer: adaptive batching, as BentoML's docs advise for a small model on CPU.

    bentoml serve bentoml_server:Classifier --host 127.0.0.1 --port P   (cwd: bench/peers)

Configuration (https://docs.bentoml.com/en/latest/guides/adaptive-batching.html,
https://docs.bentoml.com/en/latest/guides/concurrency.html, .../guides/workers.html): one API
with `batchable=True`, `max_batch_size=64`, `max_latency_ms=1000`; `workers=2` (one per
core); `traffic={"concurrency": 64}` ("set concurrency to match the batch size" when the
Service batches); one ORT intra-op thread per worker. A batchable API takes a list per request, which
BentoML reads from JSON or a multipart form, not from a raw body: each request carries the same
PNG as the one file of a `multipart/form-data` field `images`, which BentoML opens with PIL.
"""

from __future__ import annotations

import sys
from pathlib import Path

import bentoml
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Model  # noqa: E402 - the shared decode, next to this file


@bentoml.service(workers=2, traffic={"concurrency": 64})
class Classifier:
    def __init__(self) -> None:
        self.model = Model(threads=1)

    @bentoml.api(route="/invocations", batchable=True, max_batch_size=64, max_latency_ms=1000)
    def invocations(self, images: list[Image.Image]) -> list[list[float]]:
        decoded = [self.model.rgb(image) for image in images]
        return [row.tolist() for row in np.asarray(self.model.predict(decoded))]
