from vidsearch.records import FrameHit
from vidsearch.search.moment import merge_hits


def hit(v, t, score, until=None, seg=0):
    return FrameHit(video_id=v, timestamp=t, segment_index=seg, score=score, until=until)


def test_adjacent_hits_merge_and_keep_the_best_timestamp():
    spans = merge_hits(
        [hit("a", 3.0, 0.5), hit("a", 4.0, 0.9, seg=1), hit("a", 5.0, 0.6), hit("a", 20.0, 0.7)],
        gap=2.0,
        sample_period=1.0,
    )
    assert [(s.video_id, s.start, s.end, s.timestamp, s.score, s.hits) for s in spans] == [
        ("a", 3.0, 6.0, 4.0, 0.9, 3),
        ("a", 20.0, 21.0, 20.0, 0.7, 1),
    ]
    assert spans[0].segment_index == 1


def test_static_runs_extend_the_moment_and_videos_stay_apart():
    spans = merge_hits(
        [hit("a", 10.0, 0.8, until=300.0), hit("a", 301.0, 0.4), hit("b", 10.0, 0.85)],
        gap=2.0,
        sample_period=1.0,
    )
    assert [(s.video_id, s.start, s.end) for s in spans] == [("b", 10.0, 11.0), ("a", 10.0, 302.0)]


def test_no_hits_no_spans():
    assert merge_hits([], gap=2.0, sample_period=1.0) == []


def test_a_static_run_reports_its_middle_sample():
    # a keyframe at 1 s that stood for the samples 1..7 s: the picture is anywhere in the run
    (span,) = merge_hits([hit("a", 1.0, 0.9, until=8.0)], gap=2.0, sample_period=1.0)
    assert (span.start, span.end, span.timestamp) == (1.0, 8.0, 4.0)
    # a keyframe of moving footage (its run is one sample) keeps its own time
    (span,) = merge_hits([hit("a", 5.0, 0.9, until=6.0)], gap=2.0, sample_period=1.0)
    assert span.timestamp == 5.0
    # at 2 samples/s, a run of samples 10.0..11.5 s
    (span,) = merge_hits([hit("a", 10.0, 0.9, until=12.0)], gap=2.0, sample_period=0.5)
    assert span.timestamp == 11.0


# -- moments around a seed: the run where the query matches ------------------------------------
from vidsearch.search.moment import run_around  # noqa: E402


def test_a_moment_is_the_run_around_the_best_frame_that_scores_close_to_it():
    profile = [hit("a", float(t), s) for t, s in enumerate([0.1, 0.2, 0.62, 0.7, 0.71, 0.66, 0.3, 0.69, 0.1])]
    seed = profile[4]
    # floor 0.3: close means >= 0.3 + 0.9 * (0.71 - 0.3) = 0.669; 0.66 at t=5 breaks the run, the
    # equally good 0.69 at t=7 lies beyond it and is not part of this moment
    assert run_around(seed, profile, floor=0.3, period=1.0) == (3.0, 5.0)
    assert run_around(seed, profile, floor=0.3, period=1.0, run=0.5) == (2.0, 6.0)


def test_a_static_run_is_the_moment_and_a_gap_in_the_stored_frames_ends_it():
    seed = hit("a", 8.0, 0.9, until=11.0)
    profile = [hit("a", 7.0, 0.2), seed, hit("a", 11.0, 0.89), hit("a", 14.0, 0.9)]  # 12, 13 not stored
    assert run_around(seed, profile, floor=0.3, period=1.0) == (8.0, 12.0)


def test_image_moments_are_tight_and_the_same_whatever_the_limit(synthetic_library, tmp_path):
    from tests.conftest import frame_at
    from vidsearch.media.image import load_image

    lib, vid = synthetic_library.lib, synthetic_library.ids["b.mp4"]
    query = load_image(str(frame_at(synthetic_library.b, 6.0, tmp_path / "q.png")))
    pages = [lib.search_image(query, limit=k, refine=False) for k in (3, 10, 50)]
    first = pages[0][0]
    assert first.video_id == vid and first.extra["confidence"] == "same footage"
    assert 4.0 - 1e-6 <= first.start <= 6.0 <= first.end <= 8.0 + 1e-6  # the cellauto shot, not the 12-s video
    assert first.end - first.start <= 4.0
    assert first.extra["why"] == ["same picture"]
    for page in pages[1:]:
        assert [(m.video_id, m.start, m.end, m.timestamp) for m in page[:3]] == \
               [(m.video_id, m.start, m.end, m.timestamp) for m in pages[0]]


def test_footage_that_was_never_indexed_returns_nothing_above_the_floor(synthetic_library, tmp_path):
    from tests.conftest import frame_at
    from vidsearch.media.image import load_image

    lib = synthetic_library.lib
    query = load_image(str(frame_at(synthetic_library.c, 2.0, tmp_path / "q.png")))  # video C: never indexed
    plain = lib.search_image(query, limit=10, refine=False)
    assert list(plain) == [] and plain.weak >= 1
    weak = lib.search_image(query, limit=10, refine=False, include_weak=True)
    assert len(weak) >= 1 and {m.extra["confidence"] for m in weak} == {"weak"}
    assert weak.weak == plain.weak


def test_pages_follow_each_other_and_sort_by_time(synthetic_library, tmp_path):
    from tests.conftest import frame_at
    from vidsearch.media.image import load_image

    lib = synthetic_library.lib
    query = load_image(str(frame_at(synthetic_library.r, 2.0, tmp_path / "q.png")))  # R holds this footage twice
    everything = lib.search_image(query, limit=20, refine=False, include_weak=True)
    assert len(everything) >= 3
    one = lib.search_image(query, limit=1, refine=False, include_weak=True)
    two = lib.search_image(query, limit=1, offset=one.next_offset, refine=False, include_weak=True)
    assert [(m.video_id, m.start) for m in [*one, *two]] == [(m.video_id, m.start) for m in everything[:2]]
    by_time = lib.search_image(query, limit=20, refine=False, include_weak=True, sort="time")
    paths = {m.video_id: m.path for m in by_time}
    keys = [(paths[m.video_id], m.start) for m in by_time]
    assert keys == sorted(keys) and len(by_time) == len(everything)


def test_a_moment_stays_inside_the_searched_bounds(synthetic_library, tmp_path):
    from tests.conftest import frame_at
    from vidsearch.media.image import load_image

    lib = synthetic_library.lib
    query = load_image(str(frame_at(synthetic_library.b, 6.0, tmp_path / "q.png")))
    for m in lib.search_image(query, limit=10, refine=False, include_weak=True, after=5.5, before=7.5):
        assert 5.5 - 1e-6 <= m.start and m.end <= 7.5 + 1.0 + 1e-6, m  # the last frame's own sample period
