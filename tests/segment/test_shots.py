import numpy as np
import pytest

from vidsearch.records import Frame
from vidsearch.segment.shots import Segmenter


def _seg(**kw):
    args = dict(max_segment=30.0, shot_threshold=0.35, static_change=0.002)
    args.update(kw)
    return Segmenter("vid", **args)


def _frame(t, colour, square_at=None, noise=0, seed=0):
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = colour
    if noise:
        rng = np.random.default_rng(seed)
        img = np.clip(img.astype(int) + rng.integers(-noise, noise + 1, img.shape), 0, 255).astype(np.uint8)
    if square_at is not None:
        x = square_at
        img[40:80, x : x + 20] = (250, 250, 250)
    return Frame(timestamp=float(t), image=img)


def test_static_footage_embeds_one_keyframe_per_segment():
    s = _seg(max_segment=100.0)
    decisions = [s.push(_frame(t, (90, 100, 110), noise=3, seed=t)) for t in range(60)]
    assert sum(d.keyframe for d in decisions) == 1
    (seg,) = s.finish(60.0)
    assert (seg.start, seg.end, seg.keyframes) == (0.0, 60.0, [0.0])


def test_moving_object_makes_keyframes_and_stillness_stops_them():
    s = _seg()
    moving = [s.push(_frame(t, (90, 100, 110), square_at=10 + 12 * t)) for t in range(8)]
    still = [s.push(_frame(t, (90, 100, 110), square_at=10 + 12 * 7)) for t in range(8, 20)]
    assert all(d.keyframe for d in moving)
    assert not any(d.keyframe for d in still)


def test_cut_closes_the_segment_and_opens_a_new_one_with_a_keyframe():
    s = _seg()
    for t in range(5):
        assert s.push(_frame(t, (200, 30, 30))).closed == []
    d = s.push(_frame(5, (30, 30, 200)))
    assert d.keyframe and d.segment_index == 1
    (first,) = d.closed
    assert (first.index, first.start, first.end) == (0, 0.0, 5.0)
    (last,) = s.finish(9.5)
    assert (last.start, last.end) == (5.0, 9.5)


@pytest.mark.parametrize("max_segment,expected", [(10.0, 4), (30.0, 2), (100.0, 1)])
def test_long_shots_are_split_at_max_segment(max_segment, expected):
    s = _seg(max_segment=max_segment)
    closed = []
    for t in range(40):
        closed += s.push(_frame(t, (90, 100, 110))).closed
    closed += s.finish(40.0)
    assert len(closed) == expected
    assert all(seg.end - seg.start <= max_segment for seg in closed)
    assert closed[0].start == 0.0 and closed[-1].end == 40.0
    assert all(a.end == b.start for a, b in zip(closed, closed[1:]))


def test_decision_names_the_segment_a_frame_opens():
    s = _seg()
    first = s.push(_frame(0, (200, 30, 30)))
    assert first.opened is not None and first.opened.index == 0
    assert s.push(_frame(1, (200, 30, 30))).opened is None
    cut = s.push(_frame(2, (30, 30, 200)))
    assert cut.opened.index == 1 and cut.opened.start == 2.0


def test_segments_can_be_numbered_by_start_time():
    s = Segmenter("vid", max_segment=30.0, shot_threshold=0.35, static_change=0.002,
                  index_of=lambda start: int(start * 1000))
    s.push(_frame(2.5, (200, 30, 30)))
    d = s.push(_frame(3.5, (30, 30, 200)))
    assert d.closed[0].index == 2500 and d.opened.index == 3500
