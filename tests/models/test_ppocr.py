"""The PP-OCR text-line recogniser (VIDSEARCH_OCR_ENGINE=ppocr): the real model from the rapidocr wheel."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from vidsearch.models import ModelUnavailable

pytest.importorskip("rapidocr", reason="rapidocr is not installed (pip install -e '.[test]' installs it)")

from vidsearch.models.ocr import text_regions  # noqa: E402
from vidsearch.models.ppocr import PPOCRReader  # noqa: E402


def sign(text: str, *, size=(224, 398), colour=(255, 255, 255), ground=(40, 60, 40), scale=0.9, noise=0):
    """An RGB frame with ``text`` drawn across its middle (OpenCV's Hershey font)."""
    import cv2

    img = np.zeros((*size, 3), np.uint8)
    img[:] = ground
    if noise:
        rng = np.random.default_rng(0)
        img = np.clip(img.astype(np.int16) + rng.integers(-noise, noise + 1, img.shape), 0, 255).astype(np.uint8)
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(img, text, ((size[1] - w) // 2, (size[0] + h) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 2,
                cv2.LINE_AA)
    return img


@pytest.fixture(scope="module")
def reader():
    return PPOCRReader()


def test_reads_lines_of_text(reader):
    lines = reader.recognise([sign("WAREHOUSE 42")[80:150, 60:340], sign("Loading Bay")[80:150, 60:340]])
    assert [t.strip().lower() for t, _ in lines] == ["warehouse 42", "loading bay"]
    assert all(c > 0.8 for _, c in lines)


def test_reads_the_boxes_the_gate_finds_like_tesseract(reader):
    frames = [sign("EMERGENCY EXIT"), sign("PHARMACY", colour=(250, 220, 40), ground=(90, 30, 30), noise=12),
              np.full((224, 398, 3), 90, np.uint8)]
    boxes = [text_regions(f) for f in frames]
    assert boxes[0] and boxes[1] and not boxes[2]
    texts = reader.read(frames, boxes)
    assert texts[0] == "emergency exit" and texts[1] == "pharmacy" and texts[2] == ""
    # from a larger copy of the frame, the same boxes mapped onto it
    import cv2

    big = [cv2.resize(f, (796, 448), interpolation=cv2.INTER_CUBIC) for f in frames]
    assert reader.read(frames, boxes, big)[:2] == ["emergency exit", "pharmacy"]


def test_a_job_reads_in_the_background_and_can_be_cancelled(reader):
    frames = [sign(f"GATE {i}") for i in range(12)]
    job = reader.start(frames, [text_regions(f) for f in frames])
    assert job.result() == [f"gate {i}" if i >= 10 else "gate" for i in range(12)]  # "0".."9": one character
    job = reader.start(frames, [text_regions(f) for f in frames])
    job.cancel()
    assert job._thread is None or not job._thread.is_alive()
    assert reader.start([], []).result() == []


def test_missing_package_names_the_install(monkeypatch):
    from vidsearch.models import ppocr

    monkeypatch.setitem(sys.modules, "rapidocr", None)  # as if it were not installed
    with pytest.raises(ModelUnavailable, match=r"pip install rapidocr==3\.10\.0"):
        ppocr.model_path()


def test_real_clip_board(shared_videos, reader):
    """The cricket clip's advertising board, which Tesseract reads as 'roa tr' (docs/benchmarks.md)."""
    from vidsearch.media import probe, sample_frames
    from vidsearch.models.ocr import OcrGate

    path = shared_videos / "v_CricketShot_g04_c01_rgb.gif"
    frames = [f for chunk in sample_frames(str(path), probe(str(path)), fps=1.0, short_side=224, decoder="pyav")
              for f in chunk]
    chosen = OcrGate().select([f.image for f in frames], [f.timestamp for f in frames])
    text = " ".join(reader.read([frames[i].image for i, _ in chosen], [b for _, b in chosen]))
    assert "insurance" in text or "insurancer" in text, text
