"""Image encoders: where they run (:mod:`.device`), the copy descriptor (:mod:`.sscd`, SSCD on
ONNX Runtime) and the semantic embedding (:mod:`.efficientnet`, EfficientNet-Lite0).

Importing this package is cheap: torch and ONNX Runtime are imported only when a model is
constructed. Constructing a model loads it (weights, ONNX session); a loaded model is kept for
the life of the process and shared by every later instance with the same settings, so build
encoders once per process -- in a Celery prefork worker, inside the worker process, not before
the fork.

Every encoder takes ``list[np.ndarray]`` of H x W x 3 ``uint8`` RGB images and returns
L2-normalised ``float32`` rows, in input order.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


class ModelUnavailable(RuntimeError):
    """A package that carries a model (or runs it) is not installed.

    ``package`` is the pip name to install and ``install`` the exact command."""

    def __init__(self, package: str, install: str, what: str = "", reason: str = ""):
        self.package = package
        self.install = install
        detail = f" ({reason})" if reason else ""
        what = f" for {what}" if what else ""
        super().__init__(f"the package '{package}'{what} is not installed{detail}; install it with: {install}")


# Shared image helpers (used by sscd and efficientnet) --------------------------------------

def as_rgb_uint8(image) -> np.ndarray:
    """An image as a C-contiguous H x W x 3 uint8 array. Accepts H x W x 3 (RGB), H x W
    (grey), H x W x 1 and H x W x 4 (alpha dropped) uint8 arrays, or a PIL image."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0-255), not {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"images must be H x W x 3 RGB, not shape {arr.shape}")
    return np.ascontiguousarray(arr)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear (antialiased when shrinking) resize of an H x W x 3 uint8 image; no copy when the
    size already matches."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def batches(n: int, size: int) -> Sequence[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, max(1, size))]


from .device import cpu_threads, ort_providers, pick_device  # noqa: E402
from .efficientnet import SemanticEmbedder  # noqa: E402
from .sscd import CopyDescriptor  # noqa: E402

__all__ = [
    "ModelUnavailable",
    "CopyDescriptor",
    "SemanticEmbedder",
    "pick_device",
    "ort_providers",
    "cpu_threads",
]
