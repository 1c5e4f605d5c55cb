"""Image files as staging and training see them: what one is (format, oriented size) and its pixels.

Staging keeps each file's bytes as they are and only needs to know that a file is a whole,
safe image, and its size. `inspect` finds that out without decoding pixels where the format
allows it, so staging costs about what reading and hashing cost: a JPEG's header is parsed and
its end-of-image marker checked (a truncated file lacks it; only a JPEG with data after the
marker is decoded, at 1/8 scale); a PNG has its chunk CRCs checked without inflating the
pixels. EXIF orientation is read, never applied to the file: `decode` applies it where the
pixels are read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from scones.errors import BadImage

# The suffixes an image folder may hold (lower case); any other file is ignored.
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF")
# Pillow's own decompression-bomb limit (about 89 megapixels, a 9,500 x 9,500 image); a 12 MP
# phone photo is well under it.
MAX_PIXELS = 89_478_485
_ORIENTATION = 0x0112  # the EXIF tag
_TURNED = (5, 6, 7, 8)  # orientations that swap width and height
_JPEG_END = b"\xff\xd9"  # the EOI marker: a truncated JPEG lacks it


@dataclass(frozen=True)
class ImageInfo:
    """One image file: its format, its size as displayed (EXIF orientation applied), its orientation."""

    format: str
    width: int
    height: int
    orientation: int = 1


def inspect(data: bytes, name: str, *, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Check that `data` is a whole image of a supported format; BadImage says why not.

    The reasons are short phrases a list of bad files can show: "empty file", "not an image",
    "truncated or corrupt (...)", "decompression bomb (...)", "unsupported format ...".
    """
    if not data:
        raise BadImage(f"{name}: empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            kind = image.format or "unknown"
            if kind not in FORMATS:
                raise BadImage(f"{name}: unsupported format {kind}; use JPEG, PNG, WebP, BMP or TIFF")
            if width * height > max_pixels:
                raise BadImage(f"{name}: decompression bomb ({width}x{height} is over {max_pixels:,} pixels)")
            orientation = _orientation(image)
            _check_whole(image, kind, data)
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"{name}: decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise BadImage(f"{name}: not an image") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(f"{name}: truncated or corrupt ({exc})") from exc
    if orientation in _TURNED:
        width, height = height, width
    return ImageInfo(kind, width, height, orientation if 1 <= orientation <= 8 else 1)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, read without loading pixels (a PNG's getexif would load them)."""
    if image.format == "PNG":
        raw = image.info.get("exif")
        if not isinstance(raw, bytes):
            return 1
        exif = Image.Exif()
        exif.load(raw)
    else:
        exif = image.getexif()
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def _check_whole(image: Image.Image, kind: str, data: bytes) -> None:
    """Read the whole file as cheaply as the format allows; a truncated or corrupt one raises."""
    if kind == "PNG":
        image.verify()  # chunk CRCs through IEND, no inflate
        return
    if kind == "JPEG":
        if data[-64:].rstrip(b"\0\r\n ").endswith(_JPEG_END):
            return  # the header parsed and the end-of-image marker is there: whole, without decoding
        # Some cameras append data after the image: decode at 1/8 scale, which still reads every byte.
        width, height = image.size
        image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
    image.load()


def decode(data: bytes, name: str, size: int | tuple[int, int]) -> np.ndarray:
    """Image bytes -> uint8 (height, width, 3) RGB, the way SageMaker's `resize` reads an image.

    `size` is (height, width), or one int for a square. EXIF orientation is applied, grayscale
    and palette images become RGB, transparent pixels lie over white. An image already of that
    size is returned pixel for pixel; any other is scaled until it covers it (for a square, the
    shorter side becomes `size`; bilinear, antialiased) and centre-cropped. Large JPEGs are
    decoded at reduced scale first (draft mode), never below the target.
    """
    height, width = (size, size) if isinstance(size, int) else size
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise BadImage(
                    f"{name} is {image.width}x{image.height}, over {MAX_PIXELS:,} pixels; use a smaller image"
                )
            if image.format == "JPEG":
                # The longer target side, so the draft still covers the target after an EXIF turn.
                image.draft("RGB", _draft_size(image.size, max(width, height)))
            upright: Image.Image = image
            if image.format != "PNG" or "exif" in image.info:  # most PNGs have no EXIF: skip the lookup
                upright = ImageOps.exif_transpose(image)
            rgb = _rgb(upright)
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"{name} is a decompression bomb ({exc}); use a smaller image") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(f"{name} is not a readable image ({exc}); check the file or re-stage the data") from exc
    return np.asarray(fit(rgb, (width, height)), dtype=np.uint8)


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels over white, as a browser shows them (and as the endpoint decodes); opaque ones unchanged.
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image.convert("RGB")


def fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale `image` until it covers `size` (width, height), then centre-crop to it (no-op at that size)."""
    if image.size == size:
        return image
    scale = max(size[0] / image.width, size[1] / image.height)
    scaled = (max(size[0], round(image.width * scale)), max(size[1], round(image.height * scale)))
    image = image.resize(scaled, Image.Resampling.BILINEAR, reducing_gap=2.0)
    left, top = (scaled[0] - size[0]) // 2, (scaled[1] - size[1]) // 2
    return image.crop((left, top, left + size[0], top + size[1]))


def _draft_size(original: tuple[int, int], side: int) -> tuple[int, int]:
    """The draft request whose shorter side stays at least `side` (draft picks a scale >= the request)."""
    scale = side / min(original)
    return (max(1, int(original[0] * scale)), max(1, int(original[1] * scale)))
