"""Temporal alignment on synthetic similarity matrices: the copied spans in both videos."""
import numpy as np
import pytest

from vidsearch.search.align import Alignment, AlignParams, Track, align, suppress


def matrix(q_times, r_times, mapping, *, seed=0, peak=0.8, width=0.6, floor=(-0.05, 0.15)):
    """Background noise, plus a ridge where the reference time is ``mapping(query time)``
    (None: that query time is not in the reference)."""
    rng = np.random.default_rng(seed)
    sim = rng.uniform(*floor, (len(q_times), len(r_times)))
    for i, q in enumerate(q_times):
        r = mapping(q)
        if r is not None:
            ridge = peak * np.exp(-((np.asarray(r_times) - r) / width) ** 2) + rng.normal(0, 0.03, len(r_times))
            sim[i] = np.maximum(sim[i], ridge)
    return sim


def iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


REF = Track.keyframes(np.arange(0, 60, 1.0), 1.0, end=60.0)  # a 60-s video indexed at 1 frame/s


def query(duration, fps=4.0):
    return Track.regular(np.arange(0, duration, 1 / fps), 1 / fps, end=duration)


def test_diagonal_copy_gives_both_spans():
    q = query(10)
    (a, *rest) = align(matrix(q.times, REF.times, lambda t: 20 + t), q, REF)
    assert (a.query_start, a.query_end) == pytest.approx((0, 10), abs=0.3)
    assert iou((a.ref_start, a.ref_end), (20, 30)) >= 0.9
    assert a.speed == pytest.approx(1.0, abs=0.05)
    assert a.score > 0.6
    assert not rest or rest[0].score < a.score


@pytest.mark.parametrize("speed", [0.8, 1.25])
def test_slanted_ridge_of_a_speed_change(speed):
    # the query plays at `speed`: 10 s of query show 10 * speed seconds of the reference
    q = query(10)
    (a, *_) = align(matrix(q.times, REF.times, lambda t: 30 + speed * t), q, REF)
    assert a.speed == pytest.approx(speed, abs=0.06)
    assert iou((a.ref_start, a.ref_end), (30, 30 + 10 * speed)) >= 0.85
    assert (a.query_start, a.query_end) == pytest.approx((0, 10), abs=0.3)


def test_too_fast_a_ridge_is_not_one_path():
    # 2x speed is outside 0.75-1.33x: no single alignment spans the whole query
    q = query(10)
    found = align(matrix(q.times, REF.times, lambda t: 5 + 2 * t), q, REF)
    assert all(a.query_end - a.query_start < 6 for a in found)


def test_partial_overlap_locates_the_copied_part_of_the_query():
    q = query(12)
    # seconds 4-10 of the query are reference 40-46; the rest is other footage
    (a, *_) = align(matrix(q.times, REF.times, lambda t: 40 + (t - 4) if 4 <= t < 10 else None), q, REF)
    assert (a.query_start, a.query_end) == pytest.approx((4, 10), abs=0.3)
    assert iou((a.ref_start, a.ref_end), (40, 46)) >= 0.8


def test_noise_only_gives_nothing():
    q = query(10)
    sim = np.random.default_rng(3).uniform(-0.1, 0.28, (len(q), len(REF)))
    assert align(sim, q, REF) == []


def test_two_copies_of_the_query_in_one_reference():
    q = query(5)
    sim = np.maximum(matrix(q.times, REF.times, lambda t: 5 + t, seed=1),
                     matrix(q.times, REF.times, lambda t: 45 + t, seed=2))
    found = align(sim, q, REF)
    spans = sorted((round(a.ref_start), round(a.ref_end)) for a in found if a.score > 0.5)
    assert len(spans) == 2
    assert iou(spans[0], (5, 10)) >= 0.7 and iou(spans[1], (45, 50)) >= 0.7


def test_static_run_stands_for_its_whole_interval():
    # the reference kept one keyframe for a static shot 10-30 s (until=30); the query copies 18-24 s
    times = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30, 31, 32, 33, 34, 35], float)
    ref = Track.keyframes(times, 1.0, end=36.0)
    q = query(6)
    sim = np.full((len(q), len(ref)), 0.05)
    sim[:, 10] = 0.9  # every query row matches the static keyframe
    (a, *_) = align(sim, q, ref)
    assert a.nodes == len(q)
    assert 10 <= a.ref_start < a.ref_end <= 30


def test_frame_rate_of_the_query_does_not_matter():
    for fps in (1.0, 2.0, 8.0):
        q = query(8, fps)
        (a, *_) = align(matrix(q.times, REF.times, lambda t: 12 + t, seed=int(fps)), q, REF)
        assert iou((a.ref_start, a.ref_end), (12, 20)) >= 0.8, fps


def test_masked_cells_never_match():
    q = query(6)
    sim = matrix(q.times, REF.times, lambda t: 10 + t)
    sim[:, 8:18] = np.nan
    assert align(sim, q, REF) == []


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        align(np.zeros((3, 4)), query(1), REF)
    p = AlignParams(min_nodes=50)
    q = query(5)
    assert align(matrix(q.times, REF.times, lambda t: t), q, REF, p) == []


def test_a_look_alike_lead_in_is_cut_off():
    # 2.5 s of other footage that looks a little like the reference (0.6 fading to 0.3), then the copy
    q = query(7.5)
    sim = matrix(q.times, REF.times, lambda t: 20 + t, peak=0.9, width=1.0)
    lead = q.times < 2.5
    sim[lead] = np.minimum(sim[lead], 0.1)
    for i in np.flatnonzero(lead):
        sim[i, 20 + int(q.times[i])] = 0.6 - 0.12 * q.times[i]
    (a, *_) = align(sim, q, REF)
    assert a.query_start == pytest.approx(2.5, abs=0.3)
    assert iou((a.ref_start, a.ref_end), (22.5, 27.5)) >= 0.8


def test_suppress_keeps_one_location_per_part_of_the_query_and_no_crumbs():
    def a(q0, q1, sim):
        n = int((q1 - q0) * 4)
        return Alignment(q0, q1, 100 + q0, 100 + q1, sim, 1.0, sims=np.full(n, sim, np.float32))

    main = a(0.0, 8.0, 0.9)
    elsewhere = a(0.5, 7.5, 0.85)  # the same part of the query at another time of the reference
    crumb = a(8.0, 9.0, 0.95)  # one second beside it, matching some other moment
    second = a(10.0, 15.0, 0.8)  # another copied part of the query
    assert suppress([crumb, elsewhere, second, main]) == [main, second]


def test_one_still_picture_held_in_both_videos_is_a_match():
    # both videos keep one keyframe for a 4-s still shot (at 8-12 s and at 4-8 s)
    q = Track.keyframes(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8]), 1.0, end=12.0)
    r = Track.keyframes(np.array([0, 1, 2, 3, 4, 8, 9]), 1.0, end=10.0)
    sim = np.full((len(q), len(r)), 0.05)
    sim[8, 4] = 0.95
    (a,) = align(sim, q, r)
    assert (a.query_start, a.query_end) == pytest.approx((8, 12), abs=0.6)
    assert (a.ref_start, a.ref_end) == pytest.approx((4, 8), abs=0.6)
    sim[8, 4], sim[3, 2] = 0.05, 0.95  # a single matching instant is not enough
    assert align(sim, q, r) == []
