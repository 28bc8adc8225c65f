"""One contract, two backends: EdgeStore (qdrant-edge-py, in tmp_path) and ClientStore
(qdrant-client local mode, the stand-in for a Qdrant server)."""
import numpy as np
import pytest

from vidsearch.index.client import ClientStore
from vidsearch.index.edge import EdgeStore
from vidsearch.index.store import VectorStore
from vidsearch.records import FrameHit, Keyframe, Segment

COPY_DIM, SEM_DIM = 16, 12
TOL = 2e-3  # EdgeStore keeps float16 vectors


@pytest.fixture(params=["edge", "client"])
def store(request, tmp_path):
    if request.param == "edge":
        st = EdgeStore(tmp_path / "qdrant", copy_dim=COPY_DIM, semantic_dim=SEM_DIM)
    else:
        st = ClientStore.local(":memory:", copy_dim=COPY_DIM, semantic_dim=SEM_DIM)
    yield st
    st.close()


def unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_keyframes(seed, n=12, step=0.5, semantic_every=2):
    rng = np.random.default_rng(seed)
    c, s = unit(rng, n, COPY_DIM), unit(rng, n, SEM_DIM)
    return [
        Keyframe(
            timestamp=i * step,
            segment_index=i // 4,
            copy=c[i],
            semantic=s[i] if semantic_every and i % semantic_every == 0 else None,
        )
        for i in range(n)
    ]


def make_segments(video_id, n=3):
    return [
        Segment(video_id, i, start=i * 2.0, end=i * 2.0 + 2.0, keyframes=[i * 2.0, i * 2.0 + 1.0], thumbnail=f"/thumbs/{video_id}-{i}.jpg")
        for i in range(n)
    ]


def test_is_a_vector_store(store):
    assert isinstance(store, VectorStore)
    assert store.dims == {"copy": COPY_DIM, "semantic": SEM_DIM, "temporal": COPY_DIM, "concept": 384}


def test_empty_store(store):
    q = np.ones(COPY_DIM, np.float32) / np.sqrt(COPY_DIM)
    assert store.count_frames() == 0 and store.count_segments() == 0
    assert store.search_frames("copy", q, 10) == []
    assert store.search_segments("copy", q, 10) == []
    assert store.frames_of("nothing") == []
    store.delete_video("nothing")  # no error


def test_upsert_counts_and_idempotence(store):
    a, b = make_keyframes(1), make_keyframes(2, n=5)
    store.upsert_frames("a", a)
    store.upsert_frames("b", b)
    assert store.count_frames() == 17
    assert store.count_frames("a") == 12 and store.count_frames("b") == 5 and store.count_frames("c") == 0
    store.upsert_frames("a", a)  # same keyframes again: same ids, no new points
    store.upsert_frames("a", a[:3])
    assert store.count_frames() == 17
    store.upsert_frames("a", [])  # nothing to do
    assert store.count_frames("a") == 12


def test_timestamps_within_a_millisecond_are_one_point(store):
    kf = make_keyframes(3, n=2)
    kf[1].timestamp = kf[0].timestamp + 0.0002
    store.upsert_frames("v", kf)
    assert store.count_frames("v") == 1


def test_search_frames_finds_the_frame(store):
    kfs = make_keyframes(4)
    store.upsert_frames("a", kfs)
    store.upsert_frames("b", make_keyframes(5))
    hits = store.search_frames("copy", kfs[5].copy, 3)
    assert len(hits) == 3
    best = hits[0]
    assert isinstance(best, FrameHit)
    assert (best.video_id, best.timestamp, best.segment_index) == ("a", 2.5, 1)
    assert best.score == pytest.approx(1.0, abs=TOL) and best.score <= 1.0
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert store.search_frames("copy", kfs[5].copy, 0) == []
    assert len(store.search_frames("copy", kfs[5].copy, 100)) == 24


def test_until_travels_with_the_frame(store):
    kfs = make_keyframes(22, n=3)
    kfs[0].until = 0.5
    kfs[1].until = 7.25  # a static run
    store.upsert_frames("a", kfs)
    assert store.search_frames("copy", kfs[0].copy, 1)[0].until == 0.5
    assert store.search_frames("copy", kfs[1].copy, 1)[0].until == 7.25
    assert store.search_frames("copy", kfs[2].copy, 1)[0].until is None


def test_scores_are_cosine_similarities(store):
    kfs = make_keyframes(6, n=6)
    store.upsert_frames("a", kfs)
    q = kfs[0].copy
    for hit in store.search_frames("copy", q, 6):
        i = int(round(hit.timestamp / 0.5))
        assert hit.score == pytest.approx(float(q @ kfs[i].copy), abs=TOL)


def test_filters_by_video_and_time_range(store):
    a, b = make_keyframes(7), make_keyframes(8)
    store.upsert_frames("a", a)
    store.upsert_frames("b", b)
    q = a[3].copy
    only_b = store.search_frames("copy", q, 50, video_id="b")
    assert len(only_b) == 12 and {h.video_id for h in only_b} == {"b"}
    ranged = store.search_frames("copy", q, 50, video_id="a", start=1.0, end=2.5)
    assert sorted(h.timestamp for h in ranged) == [1.0, 1.5, 2.0, 2.5]  # inclusive bounds
    assert ranged[0].timestamp == 1.5
    after = store.search_frames("copy", q, 50, start=5.0)
    assert sorted(h.timestamp for h in after) == [5.0, 5.0, 5.5, 5.5]
    before = store.search_frames("copy", q, 50, end=0.5)
    assert sorted((h.video_id, h.timestamp) for h in before) == [("a", 0.0), ("a", 0.5), ("b", 0.0), ("b", 0.5)]
    assert store.search_frames("copy", q, 50, video_id="zzz") == []
    assert store.search_frames("copy", q, 50, video_id="a", start=100.0) == []


def test_search_frames_many_answers_each_query_as_search_frames(store):
    a, b = make_keyframes(7), make_keyframes(8)
    store.upsert_frames("a", a)
    store.upsert_frames("b", b)
    queries = [{"vector": a[3].copy, "limit": 5}, {"vector": b[5].copy, "limit": 50, "video_id": "b"},
               {"vector": a[3].copy, "limit": 50, "video_id": "a", "start": 1.0, "end": 2.5},
               {"vector": a[0].copy, "limit": 3, "video_id": "zzz"}]
    answers = store.search_frames_many("copy", queries)
    assert len(answers) == len(queries)
    for q, got in zip(queries, answers):
        want = store.search_frames("copy", **q)
        assert [(h.video_id, h.timestamp) for h in got] == [(h.video_id, h.timestamp) for h in want]
        assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-6)
    assert answers[0][0].video_id == "a" and answers[0][0].timestamp == 1.5
    assert answers[3] == [] and store.search_frames_many("copy", []) == []


def test_semantic_vectors_only_where_present(store):
    kfs = make_keyframes(9, semantic_every=3)  # frames 0, 3, 6, 9 carry a semantic vector
    store.upsert_frames("a", kfs)
    hits = store.search_frames("semantic", kfs[6].semantic, 50)
    assert sorted(h.timestamp for h in hits) == [0.0, 1.5, 3.0, 4.5]
    assert hits[0].timestamp == 3.0 and hits[0].score == pytest.approx(1.0, abs=TOL)
    # a copy-only keyframe list works too
    store.upsert_frames("b", make_keyframes(10, n=3, semantic_every=0))
    assert store.count_frames("b") == 3
    assert all(h.video_id == "a" for h in store.search_frames("semantic", kfs[0].semantic, 50))


def test_reupsert_replaces_payload(store):
    kfs = make_keyframes(11, n=3)
    store.upsert_frames("a", kfs)
    kfs[1].segment_index = 42
    store.upsert_frames("a", kfs)
    hit = store.search_frames("copy", kfs[1].copy, 1)[0]
    assert (hit.timestamp, hit.segment_index) == (0.5, 42)
    assert store.count_frames() == 3


def test_frames_of_sorted_by_time_with_vectors(store):
    kfs = make_keyframes(12, n=40, step=0.25)
    shuffled = list(kfs)
    np.random.default_rng(0).shuffle(shuffled)
    store.upsert_frames("a", shuffled[:25])
    store.upsert_frames("a", shuffled[25:])
    store.upsert_frames("b", make_keyframes(13))
    frames = store.frames_of("a")
    assert [t for t, _, _ in frames] == [k.timestamp for k in kfs]
    assert [s for _, s, _ in frames] == [k.segment_index for k in kfs]
    for (_, _, vec), kf in zip(frames, kfs):
        assert vec.dtype == np.float32 and vec.shape == (COPY_DIM,)
        np.testing.assert_allclose(vec, kf.copy, atol=TOL)
    assert store.frames_of("c") == []


def test_frames_of_pages_through_many_frames(store):
    rng = np.random.default_rng(14)
    c = unit(rng, 2500, COPY_DIM)
    store.upsert_frames("long", [Keyframe(timestamp=i * 1.0, segment_index=i // 30, copy=c[i]) for i in range(2500)])
    frames = store.frames_of("long")
    assert len(frames) == 2500
    assert [t for t, _, _ in frames] == [float(i) for i in range(2500)]


def test_segments_roundtrip_and_search(store):
    rng = np.random.default_rng(15)
    segs_a, segs_b = make_segments("a"), make_segments("b", 2)
    va = {"copy": unit(rng, 3, COPY_DIM), "semantic": unit(rng, 3, SEM_DIM)}
    vb = {"copy": unit(rng, 2, COPY_DIM)}
    store.upsert_segments("a", segs_a, va)
    store.upsert_segments("b", segs_b, vb)
    store.upsert_segments("a", segs_a, va)  # idempotent
    assert store.count_segments() == 5 and store.count_segments("a") == 3
    found = store.search_segments("copy", va["copy"][1], 10)
    assert len(found) == 5
    seg, score = found[0]
    assert seg == segs_a[1]  # every field survives: start, end, keyframes, thumbnail
    assert score == pytest.approx(1.0, abs=TOL)
    only_b = store.search_segments("copy", va["copy"][1], 10, video_id="b")
    assert [s.video_id for s, _ in only_b] == ["b", "b"]
    sem = store.search_segments("semantic", va["semantic"][2], 10)
    assert [s.video_id for s, _ in sem] == ["a"] * 3 and sem[0][0].index == 2
    # a segment without thumbnail or keyframes
    bare = Segment("c", 0, 0.0, 1.0)
    store.upsert_segments("c", [bare], {"copy": unit(rng, 1, COPY_DIM)})
    assert store.search_segments("copy", unit(rng, 1, COPY_DIM)[0], 10, video_id="c")[0][0] == bare


def test_delete_video(store):
    rng = np.random.default_rng(16)
    store.upsert_frames("a", make_keyframes(17))
    store.upsert_frames("b", make_keyframes(18))
    store.upsert_segments("a", make_segments("a"), {"copy": unit(rng, 3, COPY_DIM)})
    store.upsert_segments("b", make_segments("b"), {"copy": unit(rng, 3, COPY_DIM)})
    store.delete_video("a")
    assert store.count_frames() == 12 and store.count_frames("a") == 0
    assert store.count_segments() == 3 and store.count_segments("a") == 0
    assert store.frames_of("a") == []
    q = unit(rng, 1, COPY_DIM)[0]
    assert {h.video_id for h in store.search_frames("copy", q, 100)} == {"b"}
    store.upsert_frames("a", make_keyframes(17, n=2))  # a video can come back
    assert store.count_frames("a") == 2


def test_bad_input_is_refused(store):
    kfs = make_keyframes(19, n=2)
    with pytest.raises(ValueError, match="vector name"):
        store.search_frames("colour", kfs[0].copy, 5)
    with pytest.raises(ValueError, match="values"):
        store.search_frames("copy", np.ones(COPY_DIM + 1, np.float32), 5)
    with pytest.raises(ValueError, match="values"):
        store.upsert_frames("a", [Keyframe(0.0, 0, copy=np.ones(3, np.float32))])
    with pytest.raises(ValueError, match="no vector"):
        store.upsert_frames("a", [Keyframe(0.0, 0)])
    with pytest.raises(ValueError, match="shape"):
        store.upsert_segments("a", make_segments("a"), {"copy": np.ones((2, COPY_DIM), np.float32)})
    with pytest.raises(ValueError, match="belongs to"):
        store.upsert_segments("b", make_segments("a", 1), {})
    assert store.count_frames() == 0 and store.count_segments() == 0


def test_flush_close_and_use_after_close(store):
    store.upsert_frames("a", make_keyframes(20, n=2))
    store.flush()
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        store.count_frames()
    with pytest.raises(RuntimeError, match="closed"):
        store.upsert_frames("a", make_keyframes(20, n=2))


def test_context_manager(tmp_path):
    with EdgeStore(tmp_path / "q", copy_dim=COPY_DIM, semantic_dim=SEM_DIM) as st:
        st.upsert_frames("a", make_keyframes(21, n=2))
    assert st.closed


def test_search_text_matches_any_word_of_a_long_list(store):
    """Text search looks a frame up by any of its words; fuzzy OCR matching asks with several hundred
    one-edit variants of a query word at once, which both back ends must take."""
    from vidsearch.search.text import near_words

    kfs = make_keyframes(21, n=3)
    for kf, text in zip(kfs, ("rsa insurance", "ksa insurancer", "exit")):
        kf.payload["text"] = text
    store.upsert_frames("a", kfs)
    found = lambda words: sorted(h.timestamp for h in store.search_text(words, 10))  # noqa: E731
    assert found(["insurance"]) == [0.0]
    assert found(["exit", "nothing"]) == [1.0]
    variants = sorted(near_words("insurance"))
    assert len(variants) > 600
    assert found(variants) == [0.5]  # "insurancer" only: the exact word is not among its variants
    assert found(variants + ["exit"]) == [0.5, 1.0]
    assert store.search_text(variants, 10, video_id="b") == []


def test_wall_ranges_keep_frames_inside_any_span(store):
    kfs = make_keyframes(7, n=12, step=1.0)  # t = 0..11 s
    store.upsert_frames("cam", kfs, camera="gate", wall_start=1000.0)
    store.upsert_frames("other", make_keyframes(8, n=4), camera="yard")  # no wall clock: never in a span
    q = kfs[5].copy
    got = store.search_frames("copy", q, 50, wall_ranges=[(1002.0, 1003.0), (1008.0, 1009.5)])
    assert sorted(h.timestamp for h in got) == [2.0, 3.0, 8.0, 9.0]
    assert store.search_frames("copy", q, 50, wall_ranges=[]) == []
    # with the other filters: camera and a wall bound narrow the spans further
    got = store.search_frames("copy", q, 50, camera="gate", wall_after=1003.0, wall_ranges=[(1002.0, 1003.0), (1008.0, 1009.5)])
    assert sorted(h.timestamp for h in got) == [3.0, 8.0, 9.0]
    assert store.search_frames("copy", q, 50, camera="yard", wall_ranges=[(0.0, 1e12)]) == []
    many = store.search_frames_many("copy", [{"vector": q, "limit": 50, "wall_ranges": [(1008.0, 1009.5)]}])
    assert sorted(h.timestamp for h in many[0]) == [8.0, 9.0]


def test_frame_vectors_of_a_span_with_their_vectors(store):
    kfs = make_keyframes(9, n=12, step=0.5)
    store.upsert_frames("v", kfs)
    got = store.frame_vectors("v", 1.0, 2.5)
    assert [f.timestamp for f in got] == [1.0, 1.5, 2.0, 2.5]
    assert all(abs(float(f.vector @ kfs[int(f.timestamp * 2)].copy) - 1.0) < TOL for f in got)
    assert [f.segment_index for f in got] == [0, 0, 1, 1]
    sem = store.frame_vectors("v", vector_name="semantic")  # only the frames that have one
    assert [f.timestamp for f in sem] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert store.frame_vectors("nope") == []


def test_passes_filters_as_the_store_filters_payloads():
    from vidsearch.index.store import passes_filters

    p = {"camera": "yard", "wall_time": 100.0}
    assert passes_filters(p) and passes_filters({}) and passes_filters(p, camera="yard")
    assert not passes_filters(p, camera="gate") and not passes_filters({}, camera="yard")
    assert passes_filters(p, wall_after=100.0, wall_before=100.0) and not passes_filters(p, wall_after=100.5)
    assert not passes_filters(p, wall_before=99.0) and not passes_filters({"camera": "yard"}, wall_after=0.0)
    assert passes_filters(p, wall_ranges=[(0, 10), (90, 110)]) and not passes_filters(p, wall_ranges=[(0, 10)])
    assert not passes_filters(p, wall_ranges=[])  # none matches nothing, as in the stores
