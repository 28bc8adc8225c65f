"""Chunked decode: the spans of a video add up to its sequential decode, frame for frame.

Spans seek (PyAV, to the index keyframe before ``start - 2 s``); the sequential decode never does.
cockatoo.mp4 is where a plain seek goes wrong (its index lists non-IDR I-frames: frames decoded
from them are garbage), so it must come out identical here as well.
"""
import math

import numpy as np
import pytest

from tests.conftest import make_scenes, make_video
from vidsearch.media import decode, probe, sample_frames
from workers.pipeline import plan_spans


def frames_of(path, info, **kw):
    return [f for chunk in sample_frames(path, info, short_side=64, chunk=8, **kw) for f in chunk]


def assert_spans_equal_sequential(path, fps: float, span_seconds: float, decoder: str = "pyav"):
    info = probe(path)
    whole = frames_of(path, info, fps=fps, decoder="pyav")
    spans = plan_spans(info.duration, fps, span_seconds)
    assert len(spans) >= 3
    parts = []
    for start, end in spans:
        got = frames_of(path, info, fps=fps, decoder=decoder, start=start, end=end)
        assert all(start - 1e-3 <= f.timestamp and (end is None or f.timestamp < end - 1e-3) for f in got)
        parts += got
    assert [f.timestamp for f in parts] == [f.timestamp for f in whole]
    bad = [(f.timestamp, float(np.abs(f.image.astype(int) - g.image.astype(int)).mean()))
           for f, g in zip(parts, whole) if not np.array_equal(f.image, g.image)]
    assert not bad, bad


def test_plan_spans_cut_at_sample_targets():
    assert plan_spans(10.0, 1.0, 4) == [[0.0, 4.0], [4.0, 8.0], [8.0, None]]
    assert plan_spans(3.0, 1.0, 180) == [[0.0, None]]
    assert plan_spans(0.2, 1.0, 5) == [[0.0, None]]
    spans = plan_spans(100.0, 3.0, 10)  # 30 targets per span; boundaries are k/3 exactly
    assert len(spans) == 10 and spans[1] == [10.0, 20.0] and spans[-1][1] is None


@pytest.fixture
def landings(monkeypatch):
    """Where each span's seek landed (the first frame decoded after it)."""
    seen: list[float] = []
    original = decode._clean_from_seek

    def watch(ordered, start):
        first = True
        for t, frame in original(ordered, start):
            if first:
                seen.append(t)
                first = False
            yield t, frame

    monkeypatch.setattr(decode, "_clean_from_seek", watch)
    return seen


@pytest.mark.parametrize("kind", ["bframes-scenecuts", "open-gop", "avi-mpeg4"])
def test_spans_equal_sequential_on_made_videos(tmp_path, kind, landings):
    if kind == "bframes-scenecuts":  # x264 defaults: B-frames, I-frames at the cuts, one IDR
        path = make_scenes(tmp_path / "a.mp4", ["testsrc2", "smptebars", "mandelbrot", "testsrc2"], seconds=3)
    elif kind == "open-gop":  # keyframes that are recovery points, not IDR frames
        path = make_video(tmp_path / "b.mp4", duration=12, source="testsrc2",
                          extra_output=["-x264-params", "open-gop=1:keyint=20:min-keyint=20:scenecut=0", "-bf", "3"])
    else:  # AVI stores no presentation times; B-frames come out with permuted stamps
        path = make_video(tmp_path / "c.avi", duration=12, source="testsrc2", codec="mpeg4",
                          extra_output=["-bf", "2", "-g", "30"])
    assert_spans_equal_sequential(path, fps=2, span_seconds=2.5)
    if kind != "bframes-scenecuts":  # keyframes every 0.8/1.2 s: spans really start decoding mid-file
        assert max(landings) > 5, landings
    if kind == "bframes-scenecuts":  # decoder "auto" decodes spans with PyAV too
        assert_spans_equal_sequential(path, fps=2, span_seconds=2.5, decoder="auto")


@pytest.mark.parametrize("name", ["cockatoo.mp4", "demo.mp4", "test.avi"])
def test_spans_equal_sequential_on_real_clips(shared_videos, name):
    assert_spans_equal_sequential(shared_videos / name, fps=1, span_seconds=3)


def test_a_later_span_past_the_readable_part_is_empty(tmp_path):
    good = make_video(tmp_path / "v.mkv", duration=8, source="testsrc2")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    info = probe(good)
    whole = frames_of(cut, info, fps=1, decoder="pyav")
    assert 0 < len(whole) < 8
    tail = frames_of(cut, info, fps=1, decoder="pyav", start=6.0, end=None)
    assert tail == []
    assert math.isclose(frames_of(cut, info, fps=1, decoder="pyav", start=0.0, end=2.0)[-1].timestamp, 1.0,
                        abs_tol=0.05)
