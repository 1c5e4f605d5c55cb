from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from scones.errors import BadImage
from scones.model.artifact import Preprocessing
from scones.model.preprocess import decode, prepare, to_input
from tests.helpers import png_bytes


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK", "I;16"])
def test_any_mode_becomes_rgb(mode: str) -> None:
    assert decode(png_bytes((10, 20, 30), mode=mode) if mode != "CMYK" else _jpeg_cmyk()).shape == (32, 32, 3)


def _jpeg_cmyk() -> bytes:
    buffer = io.BytesIO()
    Image.new("CMYK", (40, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_pixels_are_unchanged_at_32x32() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    assert np.array_equal(decode(buffer.getvalue()), rgb)


def test_other_sizes_are_resized() -> None:
    assert decode(png_bytes(size=300)).shape == (32, 32, 3)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "Empty"), (b"not an image", "not a readable image"), (png_bytes()[:40], "not a readable image")],
)
def test_bad_bytes_are_bad_images(body: bytes, message: str) -> None:
    with pytest.raises(BadImage, match=message):
        decode(body)


def test_decompression_bomb_is_refused_from_the_header() -> None:
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")
    with pytest.raises(BadImage, match="limit|bomb"):
        decode(buffer.getvalue())


def test_to_input_normalises_to_nchw() -> None:
    pre = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    x = to_input(np.full((2, 32, 32, 3), 255, dtype=np.uint8), pre)
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.float32
    assert np.allclose(x, 1.0)
    assert prepare(png_bytes((0, 0, 0)), pre).shape == (1, 3, 32, 32)
