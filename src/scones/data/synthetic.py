"""Synthetic CIFAR-100 archives in the official layout, for tests and the staging benchmark.

The pickles are written the way the official Python 2 files are (protocol 2, byte strings as
BINSTRING, arrays via `numpy.core.multiarray._reconstruct`), so reading them exercises exactly
the code path the real archive takes.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from scones.data.cifar import ROOT, ROW_BYTES


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 with bytes saved as Python 2 `str` (BINSTRING), like the official files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)  # type: ignore[attr-defined]
        else:
            self.write(pickle.BINSTRING + n.to_bytes(4, "little") + obj)  # type: ignore[attr-defined]
        self.memoize(obj)  # type: ignore[attr-defined]

    dispatch[bytes] = save_bytes  # type: ignore[assignment]  # the pure-Python pickler's per-type table


def py2_pickle(value: Any) -> bytes:
    """Pickle `value` as Python 2 wrote the CIFAR files."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(value)
    return buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def batch(data: np.ndarray, fine_labels: list[int], filenames: list[str], label: str = "training") -> dict[bytes, Any]:
    """A train/test dict with the official keys."""
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != ROW_BYTES:
        raise ValueError(f"data must be uint8 N x {ROW_BYTES}")
    return {
        b"filenames": [n.encode("latin1") for n in filenames],
        b"batch_label": f"{label} batch 1 of 1".encode(),
        b"fine_labels": list(fine_labels),
        b"coarse_labels": [label_ // 5 for label_ in fine_labels],
        b"data": data,
    }


def meta(fine_label_names: list[str]) -> dict[bytes, Any]:
    coarse = [f"superclass_{i}" for i in range(max(1, len(fine_label_names) // 5))]
    return {
        b"fine_label_names": [n.encode() for n in fine_label_names],
        b"coarse_label_names": [n.encode() for n in coarse],
    }


def write_archive(path: Path, members: dict[str, bytes], compresslevel: int = 6) -> Path:
    """Write a .tar.gz with `members` (short name -> bytes) under cifar-100-python/."""
    with tarfile.open(path, "w:gz", compresslevel=compresslevel) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{ROOT}/{name}")
            info.size, info.mtime, info.mode = len(data), 1_300_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def random_split(rng: np.random.Generator, per_class: int, fine_label_names: list[str], label: str) -> dict[bytes, Any]:
    """`per_class` random images of every class, shuffled, with CIFAR-style file names."""
    labels = rng.permutation(np.repeat(np.arange(len(fine_label_names)), per_class)).tolist()
    data = rng.integers(0, 256, size=(len(labels), ROW_BYTES), dtype=np.uint8)
    names = [f"{fine_label_names[lab]}_s_{row:06d}.png" for row, lab in enumerate(labels)]
    return batch(data, labels, names, label)
