"""The dedup decision: transformed copies are reported with both spans, never-indexed footage and
look-alikes are not; dedup --all reports every shared span pair once, through the index."""
import numpy as np
import pytest

from tests.search import clipfixtures as cf
from vidsearch.search.dedup import continuity_runs
from vidsearch.search.clip import Reference

START, DURATION = 3.0, 6.0  # a.mp4 3-9 s: across the cuts at 4 and 8 s


@pytest.mark.parametrize("transform", sorted(cf.TRANSFORMS))
def test_a_transformed_copy_is_reported_with_both_spans(synthetic_library, transform):
    env = synthetic_library
    q = cf.cut(env.a, START, DURATION, env.tmp / f"dedup_{transform}.mp4", transform)
    matches = env.lib.dedup_clip(q)
    assert matches, f"{transform}: no copy reported"
    assert {m.video_id for m in matches} == {env.ids["a.mp4"]}  # nothing else
    m = matches[0]
    speed = cf.TRANSFORMS[transform][2]
    assert cf.iou((m.ref_start, m.ref_end), (START, START + DURATION)) >= 0.5, (m.ref_start, m.ref_end)
    assert cf.iou((m.query_start, m.query_end), (0.0, DURATION / speed)) >= 0.8, (m.query_start, m.query_end)
    assert m.score >= env.lib.settings.dedup_threshold
    assert set(m.to_dict()) == {"video_id", "path", "ref_start", "ref_end", "query_start", "query_end", "score"}


@pytest.mark.parametrize("side", ["before", "after"])
def test_partial_overlap_with_never_indexed_footage(synthetic_library, side):
    env = synthetic_library
    # a.mp4 8-13 s, brightened, with 3 s of never-indexed footage before or after
    q = cf.cut(env.a, 8.0, 5.0, env.tmp / f"dedup_partial_{side}.mp4", "eq", **{side: env.c}, fill=3.0)
    (m,) = env.lib.dedup_clip(q)
    assert m.video_id == env.ids["a.mp4"]
    copied = (3.0, 8.0) if side == "before" else (0.0, 5.0)
    assert cf.iou((m.query_start, m.query_end), copied) >= 0.7, (m.query_start, m.query_end)
    assert cf.iou((m.ref_start, m.ref_end), (8.0, 13.0)) >= 0.5, (m.ref_start, m.ref_end)


@pytest.mark.parametrize("transform", ["plain", "gray", "speed1.25", "240p"])
def test_never_indexed_footage_gives_nothing(synthetic_library, transform):
    """c.mp4 was never indexed (a plasma, another kind of gradient, rings)."""
    env = synthetic_library
    q = cf.cut(env.c, 1.0, 8.0, env.tmp / f"dedup_never_{transform}.mp4", transform)
    assert env.lib.dedup_clip(q) == []
    # search still ranks what is nearest, but nothing reaches the copy threshold
    assert all(m.score < env.lib.settings.dedup_threshold for m in env.lib.search_clip(q))


def test_dedup_all_finds_every_shared_span_once(synthetic_library):
    """r.mp4 shows the same testsrc footage at 0-4 s and again at 8-12 s (a copy inside one video);
    b.mp4 8-12 s and r.mp4 4-8 s are the same still colour spectrum (one stored keyframe each);
    a.mp4 shares nothing."""
    env = synthetic_library
    ids = env.ids
    matches = env.lib.dedup_all()
    by_pair = {}
    for m in matches:
        key = tuple(sorted((m.query_video_id, m.video_id)))
        assert key not in by_pair, f"pair reported twice: {key}"
        by_pair[key] = m
    assert set(by_pair) == {(ids["r.mp4"], ids["r.mp4"]), tuple(sorted((ids["b.mp4"], ids["r.mp4"])))}, \
        [m.to_dict() for m in matches]
    inside = by_pair[(ids["r.mp4"], ids["r.mp4"])]
    assert cf.iou((inside.query_start, inside.query_end), (0.0, 4.0)) >= 0.5
    assert cf.iou((inside.ref_start, inside.ref_end), (8.0, 12.0)) >= 0.5
    still = by_pair[tuple(sorted((ids["b.mp4"], ids["r.mp4"])))]
    spans = {still.query_video_id: (still.query_start, still.query_end),
             still.video_id: (still.ref_start, still.ref_end)}
    assert cf.iou(spans[ids["b.mp4"]], (8.0, 12.0)) >= 0.5 and cf.iou(spans[ids["r.mp4"]], (4.0, 8.0)) >= 0.5
    assert set(inside.to_dict()) >= {"query_video_id", "query_path", "video_id", "path", "ref_start", "query_start"}


def test_continuous_footage_is_one_run():
    """A static or slowly changing shot is one run (never its own copy); a cut starts a new one."""
    v = np.zeros((6, 512), np.float32)
    v[:3, 0] = 1.0
    v[3:, 1] = 1.0
    v[1, 2] = 0.3  # a little change inside the first shot
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    from vidsearch.search.align import Track

    ref = Reference("x", Track.keyframes(np.arange(6.0), 1.0), v, np.zeros(6, np.int64), np.ones(6, bool))
    assert continuity_runs(ref).tolist() == [0, 0, 0, 1, 1, 1]


# -- real clips ---------------------------------------------------------------------------------------
def test_a_held_out_real_clip_gives_nothing(real_library):
    env = real_library
    for name in ("bedroom.mp4", "04_coffee.mp4"):  # never indexed
        assert env.lib.dedup_clip(env.videos / name) == [], name


def test_dedup_all_on_real_clips_finds_exactly_the_known_copies(real_library):
    """Known: part_0 = test.mp4 0-1.067 s; example2 = big_buck_bunny 5-7 s; the two cockatoo files.
    Look-alikes that must not pair: 01_dog / fire2 (two dog clips), S001...rgb.avi / demo_skeleton
    (the same NTU RGB+D room and camera, other people)."""
    env = real_library
    matches = env.lib.dedup_all()
    pairs = {}
    for m in matches:
        key = frozenset((env.names[m.query_video_id], env.names[m.video_id]))
        assert key not in pairs, f"pair reported twice: {sorted(key)}"
        pairs[key] = m
    assert set(pairs) == {frozenset(("part_0.mp4", "test.mp4")),
                          frozenset(("example2.mp4", "big_buck_bunny_0_30.webm")),
                          frozenset(("cockatoo.mp4", "cockatoo_yuv420.mp4"))}, \
        [(sorted(k), round(m.score, 3)) for k, m in pairs.items()]

    def span_in(m, name):
        if env.names[m.video_id] == name:
            return m.ref_start, m.ref_end
        return m.query_start, m.query_end

    bunny = pairs[frozenset(("example2.mp4", "big_buck_bunny_0_30.webm"))]
    assert cf.iou(span_in(bunny, "big_buck_bunny_0_30.webm"), (5.0, 7.0)) >= 0.5
    pool = pairs[frozenset(("part_0.mp4", "test.mp4"))]
    assert cf.iou(span_in(pool, "test.mp4"), (0.0, 1.067)) >= 0.5
    bird = pairs[frozenset(("cockatoo.mp4", "cockatoo_yuv420.mp4"))]
    assert cf.iou(span_in(bird, "cockatoo.mp4"), (0.0, 14.0)) >= 0.8
