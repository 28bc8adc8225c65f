"""Batches survive the relay's byte format exactly."""
import numpy as np
import pytest

from vidsearch.ingest.indexer import Batch
from vidsearch.records import Keyframe, Segment
from workers import codec


def test_round_trip_is_exact():
    rng = np.random.default_rng(0)
    kfs = [Keyframe(1.0, 1000, 2.0, rng.random(512, dtype=np.float32), rng.random(1280, dtype=np.float32)),
           Keyframe(2.0, 1000, None, rng.random(512, dtype=np.float32), rng.random(1280, dtype=np.float32))]
    segs = [Segment("vid", 0, 0.0, 1.0, [0.0], "/tmp/x/00000.jpg")]
    vectors = {"copy": rng.random((1, 512), dtype=np.float32), "temporal": rng.random((1, 512), dtype=np.float32)}
    data = codec.encode(Batch(kfs, segs, vectors), {"00000.jpg": b"\xff\xd8jpeg"})
    batch, thumbs = codec.decode(data)
    assert thumbs == {"00000.jpg": b"\xff\xd8jpeg"}
    assert [(k.timestamp, k.segment_index, k.until) for k in batch.keyframes] == [(1.0, 1000, 2.0), (2.0, 1000, None)]
    for a, b in zip(kfs, batch.keyframes):
        assert np.array_equal(a.copy, b.copy) and np.array_equal(a.semantic, b.semantic)
    assert batch.segments == segs
    assert set(batch.segment_vectors) == {"copy", "temporal"}
    assert all(np.array_equal(vectors[n], batch.segment_vectors[n]) for n in vectors)
    assert len(data) < 4 * (2 * (512 + 1280) + 2 * 512) + 1000


def test_copy_only_batches_and_bad_messages():
    batch, _ = codec.decode(codec.encode(Batch([Keyframe(0.5, 500, 1.0, np.ones(512, np.float32))], [], {})))
    assert batch.keyframes[0].semantic is None and batch.keyframes[0].copy.shape == (512,)
    with pytest.raises(ValueError):
        codec.decode(codec.encode(Batch()) + b"junk")
    with pytest.raises(ValueError):
        codec.encode(Batch([Keyframe(0, 0, 1, np.ones(512, np.float32), np.ones(1280, np.float32)),
                            Keyframe(1, 0, 2, np.ones(512, np.float32), None)]))
