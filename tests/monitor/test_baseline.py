from __future__ import annotations

import numpy as np
import pytest

from scones.errors import MonitorError
from scones.monitor import baseline as baselines
from scones.monitor.constraints import MonitorConfig
from scones.monitor.features import FEATURES, OnnxModel
from scones.storage import Store
from tests.helpers import tiny_artifact


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_compute_save_load(store: Store) -> None:
    model = OnnxModel(tiny_artifact())
    labels = np.arange(40) % 2
    made = baselines.compute(
        model, _images(60, 0), _images(40, 1), labels, {"threshold": 0.93, "name": "t"}, MonitorConfig(max_rows=50)
    )
    assert (
        made.features.shape == (50, len(FEATURES)) and made.embeddings is not None and made.embeddings.shape == (40, 3)
    )
    assert made.class_counts.sum() == 40 and 0 <= made.correct <= 40
    stats = made.statistics()["scones"]
    assert stats["held_out"] == 40 and stats["training_images"] == 50 and stats["accuracy"] == made.correct / 40
    uri = baselines.save(store, made, "s3://scones/monitoring/t/baseline")
    assert baselines.exists(store, uri)
    loaded = baselines.load(store, uri)
    np.testing.assert_array_equal(loaded.predicted, made.predicted)
    np.testing.assert_allclose(loaded.embeddings, made.embeddings)  # type: ignore[arg-type]
    assert loaded.config == MonitorConfig(max_rows=50) and loaded.meta["name"] == "t"


def test_bad_baselines(store: Store) -> None:
    model = OnnxModel(tiny_artifact())
    with pytest.raises(MonitorError, match="at least 2"):
        baselines.compute(model, _images(1, 0), _images(5, 1), None, {"threshold": 0.93}, MonitorConfig())
    assert not baselines.exists(store, "s3://scones/nothing")
    made = baselines.compute(model, _images(5, 0), _images(5, 1), None, {"threshold": 0.93}, MonitorConfig())
    uri = baselines.save(store, made, "s3://scones/monitoring/x/baseline")
    store.put("scones", "monitoring/x/baseline/reference.npz", b"not numpy")
    with pytest.raises(MonitorError, match="corrupt"):
        baselines.load(store, uri)
