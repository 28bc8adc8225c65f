"""Query by clip: ranked moments with the span in the indexed video and the span in the clip."""
import numpy as np
import pytest

from tests.search import clipfixtures as cf
from vidsearch.config import Settings
from vidsearch.media.errors import MediaError
from vidsearch.search.clip import (FrameVotes, SegmentVotes, describe_clip, frame_shape, informative_mask, locate,
                                   query_fps)

START, DURATION = 5.0, 6.0  # a.mp4 5-11 s: across the cut at 8 s


@pytest.mark.parametrize("transform", ["plain", "speed1.25", "crop70"])
def test_a_cut_is_found_with_both_spans(synthetic_library, transform):
    env = synthetic_library
    q = cf.cut(env.a, START, DURATION, env.tmp / f"search_{transform}.mp4", transform)
    moments = env.lib.search_clip(q, limit=5)
    best = moments[0]
    assert best.video_id == env.ids["a.mp4"] and best.path == str(env.a)
    assert cf.iou((best.start, best.end), (START, START + DURATION)) >= 0.5, (best.start, best.end)
    speed = cf.TRANSFORMS[transform][2]
    assert best.extra["query_start"] == pytest.approx(0.0, abs=0.5)
    assert best.extra["query_end"] == pytest.approx(DURATION / speed, abs=0.6)
    assert best.start <= best.timestamp <= best.end
    d = best.to_dict()
    assert set(d) == {"video_id", "path", "start", "end", "timestamp", "score", "thumbnail", "query_start", "query_end",
                      "confidence", "why"}
    assert d["confidence"] == "same footage"
    assert d["thumbnail"] and d["thumbnail"].endswith(".jpg")
    assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)


def test_partial_overlap_gives_the_copied_part_of_the_clip(synthetic_library):
    env = synthetic_library
    # 2.5 s of never-indexed footage, then a.mp4 6-11 s
    q = cf.cut(env.a, 6.0, 5.0, env.tmp / "search_partial.mp4", before=env.c, fill=2.5)
    best = env.lib.search_clip(q)[0]
    assert best.video_id == env.ids["a.mp4"]
    assert best.extra["query_start"] == pytest.approx(2.5, abs=0.5)
    assert best.extra["query_end"] == pytest.approx(7.5, abs=0.5)
    assert cf.iou((best.start, best.end), (6.0, 11.0)) >= 0.5


def test_a_static_scene_is_found_inside_its_stored_run(synthetic_library):
    env = synthetic_library
    # b.mp4: sierpinski 0-4, cellauto 4-8, a still colour spectrum 8-12 (one stored keyframe)
    q = cf.cut(env.b, 6.0, 5.0, env.tmp / "search_static.mp4", "eq")
    best = env.lib.search_clip(q)[0]
    assert best.video_id == env.ids["b.mp4"]
    assert cf.iou((best.start, best.end), (6.0, 11.0)) >= 0.5, (best.start, best.end)


def test_segment_vectors_can_name_the_candidates(synthetic_library):
    """The candidate stage is pluggable: mean-pooled segment vectors find the video too."""
    env = synthetic_library
    lib = env.lib
    q = cf.cut(env.a, START, DURATION, env.tmp / "search_segments.mp4", "gray")
    query = describe_clip(q, encoders=lib.encoders, settings=lib.settings)
    by_segments = SegmentVotes(window=5.0).candidates(query, lib.store)
    assert max(by_segments, key=by_segments.get) == env.ids["a.mp4"]
    by_frames = FrameVotes().candidates(query, lib.store)
    assert max(by_frames, key=by_frames.get) == env.ids["a.mp4"]
    hits = locate(query, store=lib.store, catalog=lib.catalog, settings=lib.settings, encoders=lib.encoders,
                  sources=[SegmentVotes(window=5.0)])
    assert hits[0].video_id == env.ids["a.mp4"]
    assert cf.iou((hits[0].alignment.ref_start, hits[0].alignment.ref_end), (START, START + DURATION)) >= 0.5


def test_black_frames_say_nothing(copy_encoders):
    black = np.zeros((224, 300, 3), np.uint8)
    grey = np.full((224, 300, 3), 90, np.uint8)
    rng = np.random.default_rng(0)
    texture = np.kron(rng.integers(0, 255, (28, 38, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    v = copy_encoders.copy.embed([black, grey, texture])
    assert informative_mask(v, copy_encoders.copy, shape=(224, 300)).tolist() == [False, False, True]
    assert frame_shape(1280, 720, 224) == (224, 398) and frame_shape(None, 720, 224) is None


def test_query_sampling_rate(tmp_path):
    s = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path)})
    short = s.clip_max_frames / s.clip_fps  # seconds: up to here, clips get clip_fps
    assert query_fps(s, short / 2) == s.clip_fps
    assert s.sample_fps < query_fps(s, short * 2) < s.clip_fps
    assert short * 2 * query_fps(s, short * 2) == pytest.approx(s.clip_max_frames)  # then a frame budget
    assert query_fps(s, 3600.0) == s.sample_fps  # never sparser than the index


def test_bad_media_is_a_clear_error(synthetic_library, tmp_path):
    lib = synthetic_library.lib
    junk = tmp_path / "upload.mp4"
    junk.write_bytes(b"\x00" * 2000)
    with pytest.raises(MediaError) as err:
        lib.search_clip(junk)
    assert str(junk) in str(err.value)
    with pytest.raises(MediaError):
        lib.search_clip(tmp_path / "missing.mp4")


# -- real clips ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("query,ref,span", [
    ("part_0.mp4", "test.mp4", (0.0, 1.067)),
    ("example2.mp4", "big_buck_bunny_0_30.webm", (5.0, 7.0)),
    ("cockatoo_yuv420.mp4", "cockatoo.mp4", (0.0, 14.0)),
    ("cockatoo.mp4", "cockatoo_yuv420.mp4", (0.0, 14.0)),
])
def test_known_real_copies(real_library, query, ref, span):
    env = real_library
    moments = env.lib.search_clip(env.videos / query, limit=10)
    found = [m for m in moments if m.video_id == env.ids[ref]]
    assert found, [(env.names[m.video_id], m.score) for m in moments]
    m = found[0]
    assert cf.iou((m.start, m.end), span) >= 0.5, (m.start, m.end)
    assert m.extra["query_start"] == pytest.approx(0.0, abs=0.3)
    assert m.extra["query_end"] == pytest.approx(span[1] - span[0], abs=0.5)
