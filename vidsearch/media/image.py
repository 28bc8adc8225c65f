"""Read a still image (a query) into the same form as decoded frames: RGB uint8, upright.

A query picture costs at most what its *result* needs (docs/reliability.md, "Hostile use (issue
13): query images"): pictures over :data:`MAX_PIXELS`, whose decoded form would take over
:data:`MAX_DECODED_BYTES`, or whose searched area (the picture, or its region) is more than
:data:`MAX_ASPECT` times longer than wide are refused (:class:`TooLarge`) before any pixel is
decoded; a JPEG is decoded at a smaller DCT scale when that still gives the caller its pixels; the
region is cut out, and the picture shrunk (``Image.reduce``, strip by strip) *before* it is
converted to RGB, so a greyscale or palette picture is never held at full size in RGB.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vidsearch.media.errors import MediaError, TooLarge

MAX_PIXELS = 100_000_000  # declared size: refuse decompression bombs with a clear message
# What PIL holds for the decoded picture: 4 bytes a pixel for RGB, RGBA, CMYK, LA, I, F; 2 for
# 16-bit grey; 1 for L, P, 1. 200 MiB: a 52-Mpixel RGB PNG, any 100-Mpixel greyscale or palette
# one, any JPEG (decoded at 1/2..1/8 scale when that fits).
MAX_DECODED_BYTES = 200 * 2**20
# Long side / short side of the searched area. Video frames are at most ~3.6:1 (32:9), panoramas
# ~10:1; at the 224-px frame size a 20:1 query is 224 x 4480 pixels (3 MB), where a 10000:1 one
# was 224 x 2.24M (1.5 GB, and several copies of it).
MAX_ASPECT = 20
STRIP_BYTES = 8 * 2**20  # RGB rows converted and reduced at a time

_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}  # others: 4
_T = Image.Transpose
# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose)
_ORIENT = {2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE,
           6: _T.ROTATE_270, 7: _T.TRANSVERSE, 8: _T.ROTATE_90}
_SWAPS = (_T.TRANSPOSE, _T.TRANSVERSE, _T.ROTATE_90, _T.ROTATE_270)


def check_aspect(width: int, height: int, *, what: str = "image") -> None:
    """ValueError when ``width`` x ``height`` is longer than :data:`MAX_ASPECT` times its width."""
    long, short = max(width, height), max(1, min(width, height))
    if long > MAX_ASPECT * short:
        raise ValueError(f"{what} of {width}x{height} pixels is {long / short:.0f}:1, more elongated than "
                         f"the {MAX_ASPECT}:1 a query picture may be")


def load_image(source: str | Path, *, name: str | None = None, min_short_side: int | None = None,
               region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """``source`` is a path or a binary file object; ``name`` labels it in errors.

    ``min_short_side``: the caller only needs this many pixels on the short side of the searched
    area (it resizes to that next), so the picture is decoded and kept no larger than it takes to
    keep them: a JPEG with libjpeg's DCT scaling (1/2, 1/4, 1/8; a copy descriptor within 0.998
    cosine of the full decode's), any picture shrunk by a whole factor (``Image.reduce``) before
    it is converted to RGB. ``region``: ``(x, y, w, h)`` of the upright picture: only that part is
    returned (ValueError when it lies outside). Over a limit: :class:`TooLarge`."""
    label = name or str(source)
    try:
        with Image.open(source) as pil:
            width, height = pil.size
            if width * height > MAX_PIXELS:
                raise TooLarge(label, f"image too large ({width}x{height} pixels; at most "
                                      f"{MAX_PIXELS // 10**6} megapixels)", "image_too_large")
            if pil.format != "JPEG":  # a JPEG may decode smaller (below)
                _check_decoded(label, pil)
            if region is None:  # before the EXIF, which PIL reads from a PNG by decoding it
                _check_aspect(label, width, height, "the image")
            turn = _ORIENT.get(pil.getexif().get(0x0112, 1))
            upright = (height, width) if turn in _SWAPS else (width, height)
            box = _region_box(region, *upright)
            if region is not None:
                _check_aspect(label, box[2] - box[0], box[3] - box[1], "the region")
            box = _raw_box(box, turn, *upright)  # in the stored (not yet turned) picture
            short = min(box[2] - box[0], box[3] - box[1])
            if pil.format == "JPEG":
                scale = min_short_side / short if min_short_side and short > 2 * min_short_side else 1.0
                scale = min(scale, math.sqrt(MAX_DECODED_BYTES / (4 * width * height)))
                if scale < 1.0:
                    pil.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
            _check_decoded(label, pil)
            fx, fy = pil.width / width, pil.height / height  # the JPEG's decode scale
            box = (math.floor(box[0] * fx), math.floor(box[1] * fy),
                   max(math.floor(box[0] * fx) + 1, min(pil.width, math.ceil(box[2] * fx))),
                   max(math.floor(box[1] * fy) + 1, min(pil.height, math.ceil(box[3] * fy))))
            factor = 1
            if min_short_side:
                factor = max(1, min(box[2] - box[0], box[3] - box[1]) // min_short_side)
            out = _shrink(pil, box, factor)
            if turn is not None:
                out = out.transpose(turn)
            return np.asarray(out)
    except FileNotFoundError:
        raise MediaError(label, "no such file") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise MediaError(label, f"not a readable image ({exc.__class__.__name__})") from None


def _check_aspect(label: str, width: int, height: int, what: str) -> None:
    try:
        check_aspect(width, height, what=what)
    except ValueError as exc:
        raise TooLarge(label, str(exc), "image_too_large") from None


def _check_decoded(label: str, pil: Image.Image) -> None:
    """TooLarge when the picture, decoded at its (JPEG: drafted) size, would exceed the budget."""
    size = pil.width * pil.height * _BYTES_PER_PIXEL.get(pil.mode, 4)
    if size > MAX_DECODED_BYTES:
        raise TooLarge(label, f"image too large to decode ({pil.width}x{pil.height} {pil.mode} pixels take {size / 2**20:.0f} "
                              f"MiB; at most {MAX_DECODED_BYTES // 2**20} MiB)", "image_too_large")


def _region_box(region, width: int, height: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` of ``region`` ``(x, y, w, h)`` inside a ``width`` x ``height`` picture."""
    if region is None:
        return 0, 0, width, height
    x, y, w, h = region
    box = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"region {tuple(region)} lies outside the {width}x{height} image")
    return box


def _point(turn, x: float, y: float, width: int, height: int) -> tuple[float, float]:
    """Where ``turn`` takes the point (x, y) of a ``width`` x ``height`` picture."""
    return {_T.FLIP_LEFT_RIGHT: (width - x, y), _T.FLIP_TOP_BOTTOM: (x, height - y),
            _T.ROTATE_180: (width - x, height - y), _T.TRANSPOSE: (y, x),
            _T.TRANSVERSE: (height - y, width - x), _T.ROTATE_90: (y, width - x),
            _T.ROTATE_270: (height - y, x)}[turn]


def _raw_box(box, turn, width: int, height: int) -> tuple[int, int, int, int]:
    """The box of the stored picture that ``turn`` makes into ``box`` of the upright one
    (``width`` x ``height``): the inverse turn applied to its corners."""
    if turn is None:
        return box
    back = {_T.ROTATE_90: _T.ROTATE_270, _T.ROTATE_270: _T.ROTATE_90}.get(turn, turn)
    (ax, ay), (bx, by) = (_point(back, box[0], box[1], width, height), _point(back, box[2], box[3], width, height))
    return int(min(ax, bx)), int(min(ay, by)), int(max(ax, bx)), int(max(ay, by))


def _shrink(pil: Image.Image, box: tuple[int, int, int, int], factor: int) -> Image.Image:
    """``box`` of ``pil`` in RGB, reduced ``factor`` times; converted a strip of rows at a time, so
    only the decoded picture and one strip of RGB exist at once."""
    x0, y0, x1, y1 = box
    if factor == 1:
        whole = box == (0, 0, pil.width, pil.height)
        return (pil if whole else pil.crop(box)).convert("RGB")
    rows = max(1, STRIP_BYTES // (4 * (x1 - x0) * factor)) * factor
    out = Image.new("RGB", (math.ceil((x1 - x0) / factor), math.ceil((y1 - y0) / factor)))
    for y in range(y0, y1, rows):
        piece = pil.crop((x0, y, x1, min(y1, y + rows))).convert("RGB").reduce(factor)
        out.paste(piece, (0, (y - y0) // factor))
    return out


def resize_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    """Resize so the short side is ``short_side`` pixels, as frames are at ingest. A picture more
    elongated than :data:`MAX_ASPECT` is refused (ValueError): its result would be huge."""
    h, w = image.shape[:2]
    check_aspect(w, h)
    scale = short_side / min(h, w)
    if abs(scale - 1.0) < 1e-3:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
