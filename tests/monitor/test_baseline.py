from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scones.data.dataset import index_split, read_split
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


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_baseline_equals_the_in_memory_one(
    store: Store, bike_moto: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sample of the training rows (max_rows) and of the embeddings: both seeded draws must come out the same.
    monkeypatch.setattr(baselines, "EMBEDDING_REFERENCE", 500)
    config = MonitorConfig(max_rows=300, batch_size=128)
    model = OnnxModel(tiny_artifact())
    index = index_split(store, str(bike_moto / "train"), str(bike_moto / "train.lst"), checksum=False)
    pixels = read_split(store, str(bike_moto / "train"), str(bike_moto / "train.lst")).images
    meta = {"threshold": 0.93, "name": "t", "created": "then"}
    memory = baselines.compute(model, pixels, pixels, index.labels, meta, config)
    streamed = baselines.compute(model, index, index, index.labels, meta, config, workers=workers)
    assert streamed.meta == memory.meta and len(streamed.features) == 300
    for name in ("features", "predicted", "max_probability", "entropy", "labels", "embeddings"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(memory, name), err_msg=name)
