"""What the review tests share: an endpoint registered as `scones deploy` records it, and captures
written by scones' own capture writer (reference section 4)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

from PIL import Image

from scones.config import Settings
from scones.endpoint.capture import CaptureConfig, CaptureWriter
from scones.storage import Store
from tests.helpers import register_endpoint

CLASSES = ["bicycle", "motorcycle"]


def register(settings: Settings, name: str = "ep") -> None:
    config = {"capture_destination": None, "variant": "AllTraffic", "classes": CLASSES}
    register_endpoint(settings, name, "http://127.0.0.1:1", model="tiny", config=config)


def image(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (shade % 256, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def capture(
    store: Store,
    confidences: Sequence[float],
    name: str = "ep",
    inference_ids: Sequence[str | None] | None = None,
    variant: str = "AllTraffic",
    first_shade: int = 0,
) -> list[bytes]:
    """Capture one answer per confidence (class 0 when >= 0.5 is motorcycle's share); returns the images."""
    writer = CaptureWriter(store, CaptureConfig(percent=100, variant=variant), name)
    images = []
    for i, confidence in enumerate(confidences):
        body = image(first_shade + i)
        images.append(body)
        output = json.dumps([1 - confidence, confidence] if i % 2 else [confidence, 1 - confidence])
        ids = inference_ids[i] if inference_ids is not None else None
        writer.offer(body, "image/png", output, "application/json", ids)
    writer.close()
    assert writer.written == len(confidences)
    return images
