"""Find similar from stored vectors: a frame (an image query of its descriptor), a span (a clip query)."""
from __future__ import annotations

import pytest

from vidsearch.search.like import nearest_frame


def test_nearest_frame_is_the_keyframe_whose_run_covers_t(synthetic_library):
    lib = synthetic_library.lib
    vid = synthetic_library.ids["r.mp4"]
    frames = lib.store.frame_vectors(vid)
    assert frames
    f = nearest_frame(lib.store, vid, 9.4)
    assert f.timestamp <= 9.4 and (f.until is None or f.until >= 9.4 or f.timestamp == max(x.timestamp for x in frames
                                                                                             if x.timestamp <= 9.4))
    assert nearest_frame(lib.store, "no-such-video", 3.0) is None


def test_like_a_frame_finds_the_same_footage_elsewhere(synthetic_library):
    lib, ids = synthetic_library.lib, synthetic_library.ids
    # R's third scene (8-12 s) is its first scene's testsrc footage again
    got = lib.search_like(ids["r.mp4"], t=10.0, limit=5)
    assert got and got[0].video_id == ids["r.mp4"]
    spans = [(m.start, m.end) for m in got if m.video_id == ids["r.mp4"]]
    assert any(a <= 10.0 <= b for a, b in spans)  # itself
    assert any(b <= 4.5 for a, b in spans), spans  # and the same picture in the first scene
    assert all(m.extra["confidence"] for m in got)
    # B's colour spectrum (8-12 s) is R's second scene (4-8 s)
    other = lib.search_like(ids["b.mp4"], t=10.0, limit=5, in_video=ids["r.mp4"])
    assert other and all(m.video_id == ids["r.mp4"] for m in other)
    assert 4.0 <= other[0].timestamp <= 8.0


def test_like_a_span_is_a_clip_query_of_its_stored_frames(synthetic_library):
    lib, ids = synthetic_library.lib, synthetic_library.ids
    got = lib.search_like(ids["b.mp4"], start=8.0, end=12.0, limit=5)
    in_r = [m for m in got if m.video_id == ids["r.mp4"]]
    assert in_r, [(m.video_id, m.start, m.end) for m in got]
    m = in_r[0]
    assert 3.0 <= m.start <= 5.0 and 7.0 <= m.end <= 9.0 and "query_start" in m.extra


def test_bad_like_queries_say_why(synthetic_library):
    lib, ids = synthetic_library.lib, synthetic_library.ids
    with pytest.raises(ValueError, match="no video"):
        lib.search_like("nope", t=1.0)
    with pytest.raises(ValueError, match="empty"):
        lib.search_like(ids["b.mp4"], start=5.0, end=5.0)
    with pytest.raises(ValueError, match="not both"):
        lib.search_like(ids["b.mp4"], t=1.0, start=0.0, end=2.0)
    with pytest.raises(ValueError, match="t .a frame. or start and end"):
        lib.search_like(ids["b.mp4"])
