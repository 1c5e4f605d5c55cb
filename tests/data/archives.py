"""Small CIFAR-100-format archives for tests (real tar.gz files with Python 2 style pickles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scones.data import synthetic

NAMES = ["apple", "bicycle", "bus", "motorcycle", "train"]


def members(per_class: int = 4, names: list[str] = NAMES, seed: int = 3) -> dict[str, bytes]:
    """meta + train (`per_class` rows per class) + test (one row per class), shuffled."""
    rng = np.random.default_rng(seed)
    return {
        "meta": synthetic.py2_pickle(synthetic.meta(names)),
        "train": synthetic.py2_pickle(synthetic.random_split(rng, per_class, names, "training")),
        "test": synthetic.py2_pickle(synthetic.random_split(rng, 1, names, "testing")),
    }


def small_archive(path: Path, per_class: int = 4, names: list[str] = NAMES) -> Path:
    return synthetic.write_archive(path, members(per_class, names))
