"""Fixtures of the monitor tests: the dev images split into baseline and window halves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scones.monitor import baseline as baselines
from scones.monitor.constraints import MonitorConfig
from scones.monitor.features import OnnxModel
from tests.monitor.support import dev_images, tiny_model


@pytest.fixture(scope="session")
def images(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bike-moto"
    if not (folder / "train.lst").is_file():
        pytest.skip(f"bike-moto image export not present at {folder}")
    return dev_images(folder)


@pytest.fixture(scope="session")
def model() -> OnnxModel:
    return tiny_model()


@pytest.fixture(scope="session")
def split(images: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """Shuffled index sets: 400 training images, 200 held out, 400 for windows."""
    order = np.random.default_rng(42).permutation(len(images[0]))
    return {"train": order[:400], "held_out": order[400:600], "window": order[600:]}


@pytest.fixture(scope="session")
def reference(
    images: tuple[np.ndarray, np.ndarray], split: dict[str, np.ndarray], model: OnnxModel
) -> baselines.Baseline:
    pixels, labels = images
    meta = {"name": "test", "threshold": 0.93, "model": None}
    return baselines.compute(
        model, pixels[split["train"]], pixels[split["held_out"]], labels[split["held_out"]], meta, MonitorConfig()
    )
