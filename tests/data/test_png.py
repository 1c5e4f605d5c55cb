from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scones.data import png
from scones.progress import NullProgress


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        return np.asarray(image)


@pytest.mark.parametrize("shape", [(32, 32), (1, 1), (7, 13)])
def test_round_trip_is_pixel_exact(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, *shape, 3), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    images[2, ::2] = 255  # every other row flips 0 <-> 255: the Up filter must wrap around
    for image, data in zip(images, png.encode_pngs(images), strict=True):
        assert np.array_equal(_decode(data), image)


def test_encoding_is_deterministic() -> None:
    image = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    assert png.encode_png(image) == png.encode_png(image.copy())
    assert png.encode_pngs(image[None])[0] == png.encode_png(image)


def test_refuses_non_rgb_uint8() -> None:
    with pytest.raises(ValueError, match="uint8"):
        png.encode_pngs(np.zeros((1, 4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        png.encode_pngs(np.zeros((1, 4, 4, 3), np.float32))


class _Counter(NullProgress):
    def __init__(self) -> None:
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n


@pytest.mark.parametrize("parallel_min", [10_000, 1], ids=["in-process", "process-pool"])
def test_write_pngs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel_min: int) -> None:
    monkeypatch.setattr(png, "PARALLEL_MIN", parallel_min)
    monkeypatch.setattr(png, "_CHUNK", 16)
    images = np.random.default_rng(2).integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    paths = [str(tmp_path / f"{i}.png") for i in range(40)]
    progress = _Counter()
    png.write_pngs(images, paths, progress)
    assert progress.done == 40
    for image, path in zip(images, paths, strict=True):
        assert np.array_equal(_decode(Path(path).read_bytes()), image)
