"""Loop fixtures: a small staged dataset and reviewed items made from known images."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from scones.config import Settings
from scones.endpoint import registry
from scones.endpoint.server import endpoint_config
from scones.model.train import train
from scones.storage import Store
from tests.model.conftest import TINY, stage_synthetic, synthetic_split
from tests.monitor.support import png


@dataclass(frozen=True)
class Item:
    """A reviewed item with the fields `scones.loop.versions.ReviewedImage` reads."""

    id: str
    event_id: str
    inference_id: str | None
    label: int
    reviewer: str
    labelled_at: str
    image: bytes


def reviewed_items(n: int, seed: int = 5, reviewer: str = "ana") -> list[Item]:
    """n reviewed images, half per class, each with its own bytes (darkened synthetic images)."""
    images, labels = synthetic_split(n, seed)
    return [
        Item(f"inf-{seed}-{i}", f"ev-{seed}-{i}", f"inf-{seed}-{i}", int(label), reviewer,
             f"2026-12-05T01:{i % 60:02d}:00Z", png((image * 0.4).astype(np.uint8)))
        for i, (image, label) in enumerate(zip(images, labels, strict=True))
    ]  # fmt: skip


@pytest.fixture
def staged(store: Store) -> Store:
    stage_synthetic(store)
    return store


@pytest.fixture
def endpoint(settings: Settings, staged: Store) -> Iterator[str]:
    """Endpoint "ep" (capture on) serving a tiny model trained on the staged data; yields the model's URI."""
    base = train(settings, TINY, name="base", store=staged)
    config = endpoint_config(settings, name="ep", port=0, workers=1, capture_percent=100.0)
    registry.deploy(settings, config, base["artifact_uri"])
    yield base["artifact_uri"]
    registry.delete(settings, "ep")
