"""Hostile request material for the endpoint fuzzers: images real, mutated and forged.

Strategies (hypothesis) draw a real image in some format and mode, then maybe mutate it: bit
flips, truncation, garbage appended, random bytes, or a *valid* header declaring enormous
dimensions (PNG/GIF/BMP/JPEG/TIFF) so a careless decoder would allocate gigabytes.
"""

from __future__ import annotations

import io
import struct
import zlib

from hypothesis import strategies as st
from PIL import Image

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "ICO", "PPM")
MODES = ("RGB", "RGBA", "L", "LA", "P", "1", "I", "I;16", "CMYK", "F")


def encode(fmt: str, mode: str, width: int, height: int, seed: int) -> bytes:
    """A real image file; modes a format cannot store fall back to RGB."""
    import numpy as np

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    try:
        image = image.convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError, TypeError):
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_header(kind: str, width: int, height: int) -> bytes:
    """A well-formed header declaring width x height, with (almost) no pixel data behind it."""
    if kind == "png":
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        idat = zlib.compress(b"\0" * 1024)
        return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    if kind == "gif":
        w, h = min(width, 0xFFFF), min(height, 0xFFFF)
        image = b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02\x02\x44\x01\x00"
        return b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + b"\0" * 6 + image + b"\x3b"
    if kind == "bmp":
        w, h = min(width, 0x7FFFFFFF), min(height, 0x7FFFFFFF)
        info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
        return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + info + b"\0" * 16
    if kind == "jpeg":
        w, h = min(width, 0xFFFF), min(height, 0xFFFF)
        sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
        return b"\xff\xd8" + sof + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\0" * 64 + b"\xff\xd9"
    # tiff: little-endian, one IFD with width, height, 8-bit RGB, uncompressed, one tiny strip
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 8), (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, 16)]  # fmt: skip
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHII", tag, typ, count, value) for tag, typ, count, value in entries) + b"\0" * 4
    return b"II*\x00" + struct.pack("<I", 24) + b"\0" * 16 + ifd


real_images = st.builds(
    encode,
    st.sampled_from(FORMATS),
    st.sampled_from(MODES),
    st.integers(1, 80),
    st.integers(1, 80),
    st.integers(0, 2**32 - 1),
)


@st.composite
def bit_flipped(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(real_images))
    for position in draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=16)):
        data[position // 8] ^= 1 << (position % 8)
    return bytes(data)


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    data = draw(real_images)
    return data[: draw(st.integers(0, max(0, len(data) - 1)))]


@st.composite
def garbage_appended(draw: st.DrawFn) -> bytes:
    return draw(real_images) + draw(st.binary(min_size=1, max_size=512))


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """Random bytes written over a stretch of a real image (headers kept, chunks broken)."""
    data = bytearray(draw(real_images))
    start = draw(st.integers(0, len(data) - 1))
    noise = draw(st.binary(min_size=1, max_size=64))
    data[start : start + len(noise)] = noise
    return bytes(data)


huge_declared = st.builds(
    huge_header,
    st.sampled_from(("png", "gif", "bmp", "jpeg", "tiff")),
    st.sampled_from((0, 1, 4097, 65535, 100_000, 2**31 - 1, 2**32 - 1)),
    st.sampled_from((0, 1, 4097, 65535, 100_000, 2**31 - 1, 2**32 - 1)),
)

bodies = st.one_of(
    real_images,
    bit_flipped(),
    truncated(),
    garbage_appended(),
    spliced(),
    huge_declared,
    st.binary(max_size=2048),
    st.sampled_from((b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00", b"{}", b"null")),
)

# Header values: printable ASCII (what an HTTP client can send), some from the real vocabulary.
# (h11 refuses leading or trailing blanks in a value, so they are stripped.)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(str.strip)
content_types = st.one_of(
    st.sampled_from(
        (
            "image/png",
            "image/jpeg",
            "application/x-image",
            "IMAGE/PNG",
            "image/png; charset=x",
            "application/json",
            "text/csv",
            "image/gif",
            "",
            "*/*",
        )
    ),  # fmt: skip
    header_text,
)
accepts = st.one_of(
    st.none(),
    st.sampled_from(
        (
            "application/json",
            "application/jsonlines",
            "*/*",
            "text/html",
            "application/*;q=0.1",
            "text/html, application/jsonlines",
            "",
            "application/x-protobuf",
        )
    ),  # fmt: skip
    header_text,
)
