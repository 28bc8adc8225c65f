"""Read a still image (a query) into the same form as decoded frames: RGB uint8, upright."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vidsearch.media.errors import MediaError

MAX_PIXELS = 100_000_000  # refuse decompression bombs with a clear message


def load_image(source: str | Path, *, name: str | None = None, min_short_side: int | None = None) -> np.ndarray:
    """``source`` is a path or a binary file object; ``name`` labels it in errors.

    ``min_short_side``: the caller only needs this many pixels on the short side (it resizes to
    that next), so a JPEG may be decoded with libjpeg's DCT scaling (1/2, 1/4, 1/8) to the smallest
    size that still has them: several times less work for a big photo, and a copy descriptor
    within 0.998 cosine of the full decode's. Other formats decode in full."""
    label = name or str(source)
    try:
        with Image.open(source) as pil:
            if pil.width * pil.height > MAX_PIXELS:
                raise MediaError(label, f"image too large ({pil.width}x{pil.height} pixels)")
            short = min(pil.width, pil.height)
            if min_short_side and pil.format == "JPEG" and short > 2 * min_short_side:
                scale = min_short_side / short
                pil.draft("RGB", (max(1, round(pil.width * scale)), max(1, round(pil.height * scale))))
            pil = ImageOps.exif_transpose(pil)
            return np.asarray(pil.convert("RGB"))
    except FileNotFoundError:
        raise MediaError(label, "no such file") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise MediaError(label, f"not a readable image ({exc.__class__.__name__})") from None


def resize_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    """Resize so the short side is ``short_side`` pixels, as frames are at ingest."""
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    if abs(scale - 1.0) < 1e-3:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
