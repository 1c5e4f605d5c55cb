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


def test_crop_fit_covers_and_crops_the_centre_as_training_reads() -> None:
    wide = np.zeros((32, 96, 3), np.uint8)
    wide[:, 32:64] = 200  # the centre third; black at the sides
    body = io.BytesIO()
    Image.fromarray(wide).save(body, format="PNG")
    assert np.array_equal(decode(body.getvalue(), (32, 32), fit="crop"), np.full((32, 32, 3), 200))
    stretched = decode(body.getvalue(), (32, 32))  # old artifacts ("stretch"): the black sides stay in
    assert stretched[:, 0].max() < 50 and stretched[:, 16].min() > 150
    assert Preprocessing().fit == "stretch"  # what an artifact that says nothing means


def test_exif_orientation_is_applied() -> None:
    from tests.data.photos import jpeg

    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:16, :, 0] = 255  # red above blue, stored 64 wide
    turned = decode(jpeg(pixels, orientation=6), (32, 32), fit="crop")  # shown 32 wide, 64 tall
    plain = decode(jpeg(pixels), (32, 32), fit="crop")
    assert plain[2, 16, 0] > 200 and plain[29, 16, 0] < 60
    assert abs(int(turned[16, 2, 0]) - int(turned[16, 29, 0])) > 150  # red and blue now side by side


def test_a_phone_jpeg_is_decoded_in_draft_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.data.photos import jpeg, record_draft_sizes

    sizes = record_draft_sizes(monkeypatch)
    assert decode(jpeg(np.full((30, 40, 3), 99, np.uint8), (4032, 3024)), (64, 64), fit="crop").shape == (64, 64, 3)
    assert sizes == [(504, 378)]  # 1/8 scale, still covering 64x64
