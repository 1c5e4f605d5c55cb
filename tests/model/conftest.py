"""Small staged datasets for the model stage's tests: synthetic, separable, fast to train on."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from scones.storage import Store

TINY = {"num_layers": 8, "width": 4, "epochs": 2, "mini_batch_size": 16, "seed": 3}


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n noisy 32x32 images: label 0 red-dominant, label 1 blue-dominant (half each)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 120, (n, 32, 32, 3)).astype(np.uint8)
    images[labels == 0, :, :, 0] += 120
    images[labels == 1, :, :, 2] += 120
    return images, labels


def stage_synthetic(store: Store, bucket: str = "scones", prefix: str = "data", n_train: int = 64) -> None:
    """Write train/ + train.lst, test/ + test.lst and manifest.json as 'scones stage' would."""
    for split, n, seed in (("train", n_train, 1), ("test", 16, 2)):
        images, labels = synthetic_split(n, seed)
        lines = []
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            store.put(bucket, f"{prefix}/{split}/img_{i:04d}.png", buffer.getvalue())
            lines.append(f"{i}\t{label}\timg_{i:04d}.png\n")
        store.put(bucket, f"{prefix}/{split}.lst", "".join(lines).encode())
    manifest = {"classes": ["bicycle", "motorcycle"], "counts": {"train": n_train, "test": 16}}
    store.put(bucket, f"{prefix}/manifest.json", json.dumps(manifest).encode())


@pytest.fixture
def staged(store: Store) -> Store:
    stage_synthetic(store)
    return store
