import numpy as np

from vidsearch.ingest.indexer import SpanIndexer
from vidsearch.records import Frame


def _frames(ts, colour, moving=False):
    out = []
    for t in ts:
        img = np.zeros((120, 160, 3), np.uint8)
        img[:] = colour
        if moving:
            x = int(10 + 10 * t) % 130
            img[40:80, x : x + 20] = 250
        out.append(Frame(timestamp=float(t), image=img))
    return out


def test_batches_carry_final_keyframes_and_segments_with_unit_vectors(settings, encoders, tmp_path):
    ix = SpanIndexer(settings, encoders, "vid", tmp_path)
    first = ix.feed(_frames(range(0, 4), (200, 40, 40), moving=True))
    # the last keyframe's span is not known yet: it is held back
    assert [k.timestamp for k in first.keyframes] == [0.0, 1.0, 2.0] and not first.segments
    second = ix.feed(_frames(range(4, 8), (40, 40, 200)))  # a cut at 4 s, then a still scene
    assert [(s.index, s.start, s.end) for s in second.segments] == [(0, 0.0, 4.0)]
    assert [k.timestamp for k in second.keyframes] == [3.0]
    assert second.keyframes[0].until == 4.0
    last = ix.finish(8.0)
    assert [(s.index, s.start, s.end) for s in last.segments] == [(4000, 4.0, 8.0)]
    assert [(k.timestamp, k.until) for k in last.keyframes] == [(4.0, 8.0)]  # still: one keyframe
    for batch in (second, last):
        for name, v in batch.segment_vectors.items():
            assert v.shape[0] == len(batch.segments)
            assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert (ix.samples, ix.keyframes) == (8, 5)
    assert sorted(p.name for p in tmp_path.glob("*.jpg")) == ["00000.jpg", "04000.jpg"]


def test_ocr_interval_setting_limits_the_reads_of_a_busy_video(encoders, tmp_path):
    """VIDSEARCH_OCR_INTERVAL reaches the indexer's OCR gate: on a busy picture with a caption,
    every keyframe's text is read at 0 s, every other one's at 2 s (the default)."""
    import shutil

    import cv2
    import pytest

    from vidsearch.config import Settings

    if shutil.which("tesseract") is None or getattr(encoders, "ocr", None) is None:
        pytest.skip("tesseract-ocr is not installed (scripts/install installs it)")
    frames = []
    for t in range(6):
        img = np.full((224, 320, 3), 90, np.uint8)
        img[80:, 80 * (t % 4): 80 * (t % 4) + 80] = 255  # a white block moves every second: busy
        img[:60] = 0
        cv2.putText(img, "GATE 4", (90, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (255, 255, 255), 3)
        frames.append(Frame(timestamp=float(t), image=img))
    read = {}
    for interval in ("0", "2"):
        settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_OCR_INTERVAL": interval})
        (tmp_path / interval).mkdir()
        ix = SpanIndexer(settings, encoders, "vid", tmp_path / interval)
        batch = ix.feed(frames)
        keys = batch.keyframes + ix.finish(6.0).keyframes
        assert [k.timestamp for k in keys] == [float(t) for t in range(6)]
        read[interval] = [k.timestamp for k in keys if "gate" in k.payload.get("text", "")]
    assert read == {"0": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "2": [0.0, 2.0, 4.0]}
