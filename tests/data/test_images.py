from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from scones.data.images import ImageInfo, decode, inspect
from scones.errors import BadImage
from tests.data.photos import bomb_png, cifar_rows, jpeg, png, truncated


def _halves(width: int, height: int) -> np.ndarray:
    """Top half red, bottom half blue."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2, :, 0] = 255
    pixels[height // 2 :, :, 2] = 255
    return pixels


def test_inspect_reports_format_and_size() -> None:
    row = cifar_rows(1)[0]
    assert inspect(jpeg(row, (160, 120)), "a.jpg") == ImageInfo("JPEG", 160, 120)
    assert inspect(png(Image.fromarray(row)), "a.png") == ImageInfo("PNG", 32, 32)
    assert inspect(png(Image.new("L", (40, 30), 9)), "gray.png") == ImageInfo("PNG", 40, 30)
    assert inspect(png(Image.new("RGBA", (20, 10), (1, 2, 3, 0))), "rgba.png") == ImageInfo("PNG", 20, 10)
    webp = io.BytesIO()
    Image.fromarray(row).save(webp, "WEBP")
    assert inspect(webp.getvalue(), "a.webp").format == "WEBP"


def test_exif_orientation_is_read_not_applied() -> None:
    data = jpeg(_halves(64, 32), orientation=6)  # stored 64x32; shown turned 90 degrees: 32x64
    assert inspect(data, "turned.jpg") == ImageInfo("JPEG", 32, 64, 6)
    turned = decode(data, "turned.jpg", 32)  # after the turn, red and blue sit side by side
    assert turned[16, 2, 0] < 60 < turned[16, 29, 0] or turned[16, 29, 0] < 60 < turned[16, 2, 0]
    plain = decode(jpeg(_halves(64, 32)), "plain.jpg", 32)  # unturned: red above, blue below
    assert plain[2, 16, 0] > 200 and plain[29, 16, 2] > 200


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"this is not an image at all" * 10, "not an image"),
        (truncated(jpeg(cifar_rows(1)[0], (160, 120))), "truncated or corrupt"),
        (truncated(png(Image.fromarray(cifar_rows(1)[0]))), "truncated or corrupt"),
        (bomb_png(), "decompression bomb"),
    ],
)
def test_bad_files_name_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BadImage, match=f"^bad.file: {reason}"):
        inspect(data, "bad.file")


def test_a_small_pixel_budget_refuses_a_large_image() -> None:
    with pytest.raises(BadImage, match="decompression bomb .160x120 is over 10,000 pixels"):
        inspect(jpeg(cifar_rows(1)[0], (160, 120)), "big.jpg", max_pixels=10_000)


def test_unsupported_format() -> None:
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF")
    with pytest.raises(BadImage, match="unsupported format GIF"):
        inspect(gif.getvalue(), "a.gif")


def test_decode_is_pixel_exact_at_its_size_and_crops_the_centre_otherwise() -> None:
    row = cifar_rows(1)[0]
    assert np.array_equal(decode(png(Image.fromarray(row)), "a.png", 32), row)
    wide = np.zeros((32, 96, 3), np.uint8)
    wide[:, 32:64] = 200  # the centre third; the sides are black
    assert np.array_equal(decode(png(Image.fromarray(wide)), "wide.png", 32), np.full((32, 32, 3), 200))
    assert decode(jpeg(row, (160, 120)), "a.jpg", 64).shape == (64, 64, 3)


def test_decode_modes_become_rgb() -> None:
    assert np.array_equal(decode(png(Image.new("L", (32, 32), 9)), "g.png", 32), np.full((32, 32, 3), 9))
    clear = decode(png(Image.new("RGBA", (32, 32), (10, 20, 30, 0))), "clear.png", 32)
    assert np.array_equal(clear, np.full((32, 32, 3), 255))  # transparent over white
    opaque = decode(png(Image.new("RGBA", (32, 32), (10, 20, 30, 255))), "opaque.png", 32)
    assert np.array_equal(opaque, np.broadcast_to(np.array([10, 20, 30], np.uint8), (32, 32, 3)))


def test_decode_of_a_large_jpeg_uses_draft_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.data.photos import record_draft_sizes

    sizes = record_draft_sizes(monkeypatch)
    big = jpeg(np.full((30, 40, 3), 128, np.uint8), (4032, 3024))
    assert decode(big, "phone.jpg", 32).shape == (32, 32, 3)
    assert sizes == [(504, 378)]  # decoded at 1/8 scale (the DCT does the scaling), never below 32


def test_decode_refuses_garbage() -> None:
    with pytest.raises(BadImage, match="nope.png is not a readable image"):
        decode(b"garbage", "nope.png", 32)


def test_decode_covers_a_non_square_target_and_crops_the_centre() -> None:
    tall = np.zeros((90, 30, 3), np.uint8)
    tall[30:60] = 200  # the middle third; black above and below
    out = decode(png(Image.fromarray(tall)), "tall.png", (24, 48))  # (height, width)
    assert out.shape == (24, 48, 3) and np.array_equal(out, np.full((24, 48, 3), 200))


def test_a_jpeg_with_data_after_its_end_marker_is_checked_by_decoding() -> None:
    whole = jpeg(cifar_rows(1)[0], (160, 120))
    assert inspect(whole + b"camera trailer", "trailer.jpg").format == "JPEG"
    with pytest.raises(BadImage, match="cut.jpg: truncated or corrupt"):
        inspect(truncated(whole) + b"camera trailer", "cut.jpg")
