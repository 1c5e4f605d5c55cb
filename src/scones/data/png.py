"""Writing many small PNGs fast and byte-for-byte reproducibly.

Pillow's PNG encoder with fixed settings gives the same bytes for the same pixels on every
run, which is what makes staging idempotent. Encoding is ~140 us per 32x32 image, so large
batches are spread over a process pool (one worker per core); small ones stay in-process.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
from PIL import Image

from scones.progress import NullProgress, Progress

PARALLEL_MIN = 4096  # below this, starting worker processes costs more than it saves
_CHUNK = 1024  # images per task: big enough to amortise pickling, small enough to keep the bar moving


def encode_png(image: np.ndarray) -> bytes:
    """uint8 (H, W, 3) RGB -> PNG bytes (deterministic: fixed compression, no metadata)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=6, optimize=False)
    return buffer.getvalue()


def write_pngs(images: np.ndarray, paths: Sequence[str], progress: Progress | None = None) -> None:
    """Write images[i] to paths[i] (folders must exist); parallel for large batches."""
    progress = progress or NullProgress()
    workers = min(os.cpu_count() or 1, 8)
    if len(paths) < PARALLEL_MIN or workers < 2:
        for start in range(0, len(paths), _CHUNK):
            _write_chunk(images[start : start + _CHUNK], list(paths[start : start + _CHUNK]))
            progress.advance(min(_CHUNK, len(paths) - start))
        return
    # spawn, not fork: the caller may have threads (servers, S3 clients) that fork would copy mid-lock.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_write_chunk, images[start : start + _CHUNK], list(paths[start : start + _CHUNK]))
            for start in range(0, len(paths), _CHUNK)
        ]
        for future in futures:
            progress.advance(future.result())


def _write_chunk(images: np.ndarray, paths: list[str]) -> int:
    for image, path in zip(images, paths, strict=True):
        with open(path, "wb") as handle:
            handle.write(encode_png(image))
    return len(paths)
