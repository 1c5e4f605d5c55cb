"""Image bytes -> the model's input tensor, exactly as the manifest says.

One implementation shared by training-time export checks, the endpoint and the monitor, so
an image is seen the same way everywhere. NumPy and Pillow only (no torch).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from scones.data.images import fit as cover_and_crop
from scones.errors import BadImage
from scones.model.artifact import Preprocessing

# Far above any real request (6 MB bodies), far below a decompression bomb; checked from the
# header before any pixel is decoded.
MAX_PIXELS = 4096 * 4096


def decode(
    data: bytes, size: tuple[int, int] = (32, 32), resample: str = "bilinear", fit: str = "stretch"
) -> np.ndarray:
    """Decode PNG/JPEG/WebP/any Pillow image bytes to uint8 RGB of shape (H, W, 3).

    EXIF orientation is applied. Any mode (RGBA, grayscale, palette, CMYK, 16-bit) becomes RGB;
    any other size is fitted to `size` (H, W): "stretch" resizes straight to it, "crop" covers
    it and crops the centre (`Preprocessing.fit`). A large JPEG is decoded at reduced scale
    (Pillow's draft mode: 1/2, 1/4 or 1/8 in the DCT, never below `size`), so a 12-megapixel
    photo costs little more than a small one. Raises BadImage, naming the problem, for anything else.
    """
    if not data:
        raise BadImage("Empty request body: send the image bytes (PNG or JPEG)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise BadImage(
                    f"Image is {width}x{height} pixels, over the {MAX_PIXELS}-pixel limit; send a smaller image"
                )
            if image.format == "JPEG":
                scale = max(size) / min(width, height)  # the longer side, so an EXIF turn still covers size
                image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            image.load()
            if image.format != "PNG" or "exif" in image.info:  # most PNGs have no EXIF: skip the lookup
                image = ImageOps.exif_transpose(image)
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"Image refused as a decompression bomb ({exc}); send a smaller image") from exc
    except UnidentifiedImageError as exc:  # its message shows a BytesIO repr, which helps no one
        raise BadImage("Body is not a readable image (no known image format); send PNG or JPEG bytes") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(f"Body is not a readable image ({exc}); send PNG or JPEG bytes") from exc
    if image.mode not in ("RGB",):
        image = _to_rgb(image)
    height, width = size
    if image.size != (width, height) and fit == "crop":
        image = cover_and_crop(image, (width, height))
    elif image.size != (width, height):
        image = image.resize((width, height), _RESAMPLE.get(resample, Image.Resampling.BILINEAR))
    return np.asarray(image, dtype=np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels over white, as a browser shows them; opaque ones are unchanged.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        return Image.fromarray((array / peak * 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def to_input(images: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB -> float32 (N, 3, H, W), scaled to [0, 1] and normalised."""
    if images.ndim == 3:
        images = images[None]
    # Channels first while still uint8, then every step in place: one float32 copy of the batch alive
    # instead of two (a batch of 256 at 224 px is 154 MB of them); each pixel sees the same operations.
    x = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).astype(np.float32)
    x *= np.float32(1 / 255)
    x -= np.asarray(pre.mean, dtype=np.float32).reshape(3, 1, 1)
    x /= np.asarray(pre.std, dtype=np.float32).reshape(3, 1, 1)
    return x


def prepare(data: bytes, pre: Preprocessing) -> np.ndarray:
    """Image bytes -> float32 (1, 3, H, W): decode, then to_input."""
    _, height, width = pre.image_shape
    return to_input(decode(data, (height, width), pre.resize, pre.fit), pre)
