"""Segment thumbnails: small JPEGs in the data folder, written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

THUMB_HEIGHT = 180


def save_thumbnail(image: np.ndarray, path: Path, height: int = THUMB_HEIGHT, quality: int = 80) -> Path:
    pil = Image.fromarray(image)
    if pil.height > height:
        pil = pil.resize((max(1, round(pil.width * height / pil.height)), height), Image.BILINEAR)
    tmp = path.with_suffix(".tmp")
    pil.save(tmp, format="JPEG", quality=quality)
    os.replace(tmp, path)
    return path
