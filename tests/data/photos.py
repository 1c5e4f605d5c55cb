"""Image folders for tests, built from CIFAR-format rows: real JPEG/PNG files of several sizes and modes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scones.data import synthetic

ORIENTATION = 0x0112


def cifar_rows(count: int, seed: int = 5) -> np.ndarray:
    """uint8 (count, 32, 32, 3): CIFAR-format rows (3072 bytes: red, green, blue planes) as RGB images."""
    rows = synthetic.random_split(np.random.default_rng(seed), count, ["x"], "training")[b"data"]
    return np.asarray(rows, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def jpeg(pixels: np.ndarray, size: tuple[int, int] | None = None, orientation: int | None = None) -> bytes:
    """A JPEG of `pixels` scaled to `size` (width, height), with an EXIF orientation if given."""
    image = Image.fromarray(pixels)
    if size is not None:
        image = image.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    if orientation is None:
        image.save(buffer, "JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def imbalanced_folder(root: Path, counts: dict[str, int], seed: int = 1) -> Path:
    """root/<class>/<class>_<i>.jpg, `counts[class]` JPEGs each, alternating 96x96 and 160x120 upscaled CIFAR rows."""
    rows = cifar_rows(sum(counts.values()), seed)
    n = 0
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            size = (96, 96) if i % 2 == 0 else (160, 120)
            (root / name / f"{name}_{i:03d}.jpg").write_bytes(jpeg(rows[n], size))
            n += 1
    return root


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG whose header claims width x height pixels (a decompression bomb; the pixel data is a stub)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def record_draft_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every size Pillow's JPEG draft mode picks from now on (the DCT scales the image down)."""
    from PIL import JpegImagePlugin

    sizes: list[tuple[int, int]] = []
    real = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> object:
        answer = real(self, mode, size)
        sizes.append(self.size)
        return answer

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    return sizes
