"""The endpoint's core: image bytes in, probabilities out, captured on the way.

HTTP lives in `app.py`; this module knows nothing of it beyond the content types. It owns
the predictor, the batcher, the capture writer and the metrics of one process.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field

import numpy as np

from scones.config import DEFAULT_ENDPOINT_NAME
from scones.endpoint.capture import DEFAULT_VARIANT, CaptureConfig, CaptureWriter
from scones.endpoint.errors import NotAcceptable, UnsupportedMedia, ValidationError
from scones.endpoint.metrics import Metrics
from scones.endpoint.predictor import BatchConfig, Batcher, Predictor
from scones.errors import BadImage, ConfigError
from scones.model.artifact import Artifact
from scones.model.preprocess import decode
from scones.storage import Store

IMAGE_TYPES = ("image/png", "image/jpeg", "application/x-image")
JSON = "application/json"
JSONLINES = "application/jsonlines"
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker real-time payload limit
INLINE_DECODE_BYTES = 64 * 1024  # smaller bodies decode on the event loop (a thread hop costs more)
# SageMaker's endpoint name rule; it also keeps the name safe inside capture keys.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class EndpointConfig:
    """One endpoint's settings (resolved from flags, then SCONES_ENDPOINT_* env, then defaults).

    Attributes:
        name: the endpoint name (routes, capture keys, the registry).
        host / port: where to listen; 127.0.0.1 unless asked (port 8080 is the container default).
        workers: server processes sharing the port.
        max_batch_size / max_wait_ms / threads: see `predictor.BatchConfig`.
        capture_percent / capture_destination: see `capture.CaptureConfig`.
        variant: production variant name (response header, capture keys).
        max_body_bytes: request bodies above this get 413.
        auth_token: when set, every route but /ping needs `Authorization: Bearer <token>`.
    """

    name: str = DEFAULT_ENDPOINT_NAME
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_batch_size: int = 8
    max_wait_ms: float = 2.0
    threads: int = 0
    capture_percent: float = 0.0
    capture_destination: str | None = None
    variant: str = DEFAULT_VARIANT
    max_body_bytes: int = MAX_BODY_BYTES
    auth_token: str | None = field(default=None, repr=False)  # kept out of reprs, logs and tracebacks
    # Target tracking (scaling.py): `workers` is the minimum; 0 keeps the count fixed at `workers`.
    max_workers: int = 0
    target_invocations_per_worker: float = 0.0  # per minute, as SageMakerVariantInvocationsPerInstance
    scale_out_seconds: float = 30.0
    scale_in_seconds: float = 120.0

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ConfigError(
                f"Endpoint name {self.name!r} is not valid: use up to 63 letters, digits and hyphens, "
                "starting with a letter or digit"
            )
        if not NAME_PATTERN.match(self.variant):
            raise ConfigError(f"Variant name {self.variant!r} is not valid: use letters, digits and hyphens")
        if self.workers < 1 or self.max_batch_size < 1:
            raise ConfigError("Endpoint workers and max_batch_size must be at least 1")
        if self.max_workers and not self.workers < self.max_workers <= 64:
            raise ConfigError(
                f"--max-workers is {self.max_workers}; give more than --min-workers ({self.workers}) and at most 64"
            )
        if bool(self.max_workers) != (self.target_invocations_per_worker > 0):
            raise ConfigError("Scaling needs both --max-workers N and --target-invocations-per-worker R (> 0)")
        if self.scale_out_seconds <= 0 or self.scale_in_seconds <= 0:
            raise ConfigError("--scale-out-seconds and --scale-in-seconds must be more than 0")
        if self.threads < 0:
            raise ConfigError(f"Endpoint threads must be 0 (one per core) or more, not {self.threads}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"Port {self.port} is out of range; give 1-65535 (0 picks a free one)")
        self.capture()  # validates the capture settings now, not at the first request

    def batch(self) -> BatchConfig:
        return BatchConfig(max_batch_size=self.max_batch_size, max_wait_ms=self.max_wait_ms, threads=self.threads)

    def capture(self) -> CaptureConfig:
        return CaptureConfig(percent=self.capture_percent, destination=self.capture_destination, variant=self.variant)


class InferenceService:
    """Predict and capture; built once per server process (see app.App's lifespan)."""

    def __init__(self, artifact: Artifact, config: EndpointConfig, store: Store) -> None:
        self.config = config
        self.manifest = artifact.manifest
        self.predictor = Predictor(artifact, threads=1)  # one ORT thread per batcher lane (see predictor.py)
        capture = config.capture()
        self.capture = CaptureWriter(store, capture, config.name) if capture.percent > 0 else None
        self.metrics = Metrics(config.name, artifact.manifest, self.capture)
        self.batcher = Batcher(self.predictor, config.batch(), on_batch=self.metrics.batch_size.observe)
        _, self._height, self._width = self.manifest.preprocessing.image_shape
        self.in_flight = 0  # requests inside invoke(), counted by the slot serving it (see endpoint/slot.py)
        self.ready = True

    async def invoke(
        self, body: bytes, content_type: str, accept: str = "", inference_id: str | None = None
    ) -> tuple[bytes, str]:
        """Classify one image; returns (response body, response content type)."""
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in IMAGE_TYPES:
            raise UnsupportedMedia(
                f"Content-Type {content_type or '(none)'!r} is not supported; send {', '.join(IMAGE_TYPES)}"
            )
        reply_type = negotiate(accept)
        probabilities = await self.probabilities(body)
        output = format_output(probabilities, reply_type)
        self.metrics.confidence.observe(float(probabilities.max()))
        if self.capture is not None and self.capture.sampled():
            self.capture.offer(body, content_type, output, reply_type, inference_id)
        return output.encode(), reply_type

    async def probabilities(self, body: bytes) -> np.ndarray:
        """The model's answer alone: no capture, no metrics (a deployment's mirrored comparison uses it too)."""
        if not body:
            raise ValidationError("Empty request body: send the image bytes (PNG or JPEG)")
        self.batcher.arriving(+1)
        try:
            image = await self._decode(body)
        except BaseException:
            self.batcher.arriving(-1)
            raise
        return await self.batcher.predict(image, was_arriving=True)

    async def _decode(self, body: bytes) -> np.ndarray:
        size = (self._height, self._width)
        resize, fit = self.manifest.preprocessing.resize, self.manifest.preprocessing.fit
        try:
            if len(body) <= INLINE_DECODE_BYTES:
                return decode(body, size, resize, fit)
            # Big images (up to 6 MB JPEGs) would stall every other request on the loop.
            return await asyncio.get_running_loop().run_in_executor(None, decode, body, size, resize, fit)
        except BadImage as exc:
            raise ValidationError(str(exc)) from exc

    def close(self) -> None:
        """Stop taking requests, finish the queued ones, write every captured record."""
        self.ready = False
        self.batcher.close()
        if self.capture is not None:
            self.capture.close()


def negotiate(accept: str) -> str:
    """The reply type for an Accept header: JSON by default, JSON lines when asked."""
    if not accept.strip():
        return JSON
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in (JSON, "*/*", "application/*"):
            return JSON
        if media == JSONLINES:
            return JSONLINES
    raise NotAcceptable(f"Accept {accept!r} is not supported; ask for {JSON} or {JSONLINES}")


def format_output(probabilities: np.ndarray, reply_type: str) -> str:
    """SageMaker's image-classification reply: a bare list, or {"prediction": [...]} for JSON lines."""
    values = [float(p) for p in probabilities]
    if reply_type == JSONLINES:
        return json.dumps({"prediction": values})
    return json.dumps(values)
