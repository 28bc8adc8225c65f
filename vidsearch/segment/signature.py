"""A cheap per-frame signature for shot detection and static-footage detection.

Both decisions are made on every sampled frame before any neural network runs, so they must cost
far less than an encoder: a 64-pixel-wide grey thumbnail (for "did anything move?") and a coarse
HSV colour histogram (for "is this another shot?").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

THUMB_WIDTH = 64
HIST_BINS = (16, 4, 4)  # hue, saturation, value


@dataclass(frozen=True)
class Signature:
    grey: np.ndarray  # (h, 64) float32 in [0, 1]
    hist: np.ndarray  # (16*4*4,) float32, sums to 1


def _small(image: np.ndarray) -> Image.Image:
    pil = Image.fromarray(image)
    w, h = pil.size
    return pil.resize((THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), Image.BILINEAR)


def _grey(small: Image.Image) -> np.ndarray:
    return np.asarray(small.convert("L"), dtype=np.float32) / 255.0


def grey_thumbnail(image: np.ndarray) -> np.ndarray:
    """The signature's grey thumbnail alone (``signature(image).grey``, without the histogram)."""
    return _grey(_small(image))


def signature(image: np.ndarray) -> Signature:
    small = _small(image)
    grey = _grey(small)
    hsv = np.asarray(small.convert("HSV"), dtype=np.uint16)
    idx = (
        (hsv[..., 0] * HIST_BINS[0] >> 8) * (HIST_BINS[1] * HIST_BINS[2])
        + (hsv[..., 1] * HIST_BINS[1] >> 8) * HIST_BINS[2]
        + (hsv[..., 2] * HIST_BINS[2] >> 8)
    )
    hist = np.bincount(idx.ravel(), minlength=int(np.prod(HIST_BINS))).astype(np.float32)
    hist /= max(hist.sum(), 1.0)
    return Signature(grey=grey, hist=hist)


def histogram_distance(a: Signature, b: Signature) -> float:
    """Half the L1 distance between colour histograms: 0 (same colours) .. 1 (disjoint)."""
    return float(0.5 * np.abs(a.hist - b.hist).sum())


def changed_fraction(a: Signature, b: Signature, pixel_delta: float = 0.08) -> float:
    """Fraction of thumbnail pixels whose grey level moved by more than ``pixel_delta``.

    A global brightness drift (auto exposure, clouds) is removed first, so that only local change
    (something entered or moved) counts.
    """
    return changed_fraction_grey(a.grey, b.grey, pixel_delta)


def changed_fraction_grey(a: np.ndarray, b: np.ndarray, pixel_delta: float = 0.08) -> float:
    """:func:`changed_fraction` of two grey thumbnails."""
    if a.shape != b.shape:
        return 1.0
    diff = a - b
    diff -= np.median(diff)
    return float(np.mean(np.abs(diff) > pixel_delta))
