"""Segments get the temporal encoder's vector ("temporal") when VIDSEARCH_SEGMENT_ENCODER=temporal."""
import numpy as np
import pytest

pytest.importorskip("torch")

from tests.conftest import make_scenes  # noqa: E402
from vidsearch.config import Settings  # noqa: E402
from vidsearch.ingest.indexer import SpanIndexer  # noqa: E402
from vidsearch.library import Library  # noqa: E402
from vidsearch.media import probe, sample_frames  # noqa: E402
from vidsearch.models.encoders import Encoders  # noqa: E402
from vidsearch.models.temporal import motion_frame  # noqa: E402
from vidsearch.records import Frame  # noqa: E402


def _settings(tmp_path, encoder: str) -> Settings:
    return Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_SEMANTIC": "0",
                              "VIDSEARCH_SEGMENT_ENCODER": encoder, "VIDSEARCH_QDRANT_URL": ":memory:"})


@pytest.fixture(scope="module")
def temporal_encoders(tmp_path_factory):
    return Encoders(_settings(tmp_path_factory.mktemp("t"), "temporal"))


def _frames(ts, colour, moving):
    out = []
    for t in ts:
        img = np.zeros((120, 160, 3), np.uint8)
        img[:] = colour
        if moving:
            x = int(10 + 12 * t) % 130
            img[40:80, x : x + 20] = 250
        out.append(Frame(timestamp=float(t), image=img))
    return out


def test_indexer_vector_is_the_encoding_of_the_segment_steps(tmp_path, temporal_encoders):
    settings = _settings(tmp_path, "temporal")
    ix = SpanIndexer(settings, temporal_encoders, "vid", tmp_path)
    moving, still = _frames(range(0, 5), (200, 40, 40), True), _frames(range(5, 9), (40, 40, 200), False)
    batches = [ix.feed(moving[:3]), ix.feed(moving[3:] + still), ix.finish(9.0)]
    segs = [s for b in batches for s in b.segments]
    vecs = np.concatenate([b.segment_vectors["temporal"] for b in batches if b.segments])
    assert [(s.start, s.end) for s in segs] == [(0.0, 5.0), (5.0, 9.0)]
    assert vecs.shape == (2, 512) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert all(b.segment_vectors.keys() == {"copy", "temporal"} for b in batches if b.segments)

    # the same steps by hand: one per sample; a still sample repeats its keyframe's descriptor;
    # the first step of each segment has no predecessor (zero difference)
    enc, copy = temporal_encoders.temporal, temporal_encoders.copy
    expected = []
    for frames, n_keys in ((moving, 5), (still, 1)):
        descs = copy.embed([f.image for f in frames[:n_keys]])
        app = np.stack([descs[min(i, n_keys - 1)] for i in range(len(frames))])
        grey = np.stack([motion_frame(f.image) for f in frames])
        prev = np.concatenate([grey[:1], grey[:-1]])
        expected.append(enc.encode_steps([(app, enc.motion_features(prev, grey))])[0])
    assert np.allclose(vecs, np.stack(expected), atol=1e-4)
    assert ix.keyframes == 6


def test_mean_setting_stores_no_temporal_vector_and_a_mismatch_is_refused(tmp_path, temporal_encoders, encoders):
    ix = SpanIndexer(_settings(tmp_path, "mean"), encoders, "vid", tmp_path)
    ix.feed(_frames(range(0, 3), (200, 40, 40), True))
    b = ix.finish(3.0)
    assert len(b.segments) == 1 and "temporal" not in b.segment_vectors
    mean_encoders = Encoders(_settings(tmp_path, "mean"))
    with pytest.raises(ValueError, match="temporal"):
        SpanIndexer(_settings(tmp_path, "temporal"), mean_encoders, "vid", tmp_path)


def test_ingested_segments_are_found_by_a_clip_of_them(tmp_path, temporal_encoders):
    settings = _settings(tmp_path, "temporal")
    video = make_scenes(tmp_path / "three.mp4", ["testsrc2", "smptebars", "mandelbrot"], seconds=4)
    with Library(settings, encoders=temporal_encoders) as lib:
        (r,) = list(lib.ingest([video]))
        assert r.status == "indexed", r.error
        assert r.segments == 3
        assert lib.store.count_segments(r.video_id) == 3
        frames = [f for ch in sample_frames(video, probe(video), fps=1.0, short_side=224) for f in ch]
        for lo in (0, 4, 8):
            clip = [f.image for f in frames if lo <= f.timestamp < lo + 4]
            q = temporal_encoders.temporal.encode_clip(clip, temporal_encoders.copy.embed(clip))
            (seg, score), *_ = lib.store.search_segments("temporal", q, 3)
            assert round(seg.start) == lo and score > 0.95, (lo, seg, score)
