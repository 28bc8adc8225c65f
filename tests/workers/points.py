"""What a video's index must hold after a distributed ingest, and what the store holds.

The expected points come from the very spans the workers index (``plan_spans`` + ``sample_frames``
with ``start``/``end`` + ``SpanIndexer``), with a stand-in encoder: which samples become keyframes
and where segments start depends on the frames only, not on the vectors.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from vidsearch.ingest.indexer import SpanIndexer
from vidsearch.media import probe, sample_frames
from workers.pipeline import plan_spans


class ConstantEncoders:
    def embed(self, images):
        return {"copy": np.full((len(images), 512), 1 / np.sqrt(512), np.float32)}


def expected_points(path, settings) -> tuple[set[int], set[int]]:
    """(keyframe times in ms, segment indexes) that the chunks of ``path`` produce."""
    info = probe(path)
    frames_ms: set[int] = set()
    segments: set[int] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for start, end in plan_spans(info.duration, settings.sample_fps, settings.chunk_seconds):
            ix = SpanIndexer(settings, ConstantEncoders(), "x", Path(tmp))
            batches = [ix.feed(f) for f in sample_frames(path, info, fps=settings.sample_fps,
                                                         short_side=settings.frame_size, chunk=settings.decode_chunk,
                                                         decoder=settings.decoder, start=start, end=end)]
            batches.append(ix.finish(end if end is not None else info.duration))
            for b in batches:
                frames_ms |= {int(round(k.timestamp * 1000)) for k in b.keyframes}
                segments |= {s.index for s in b.segments}
    return frames_ms, segments


def stored_points(store, video_id: str) -> tuple[list[int], list[int]]:
    """(keyframe times in ms, segment indexes) of every point the store holds for the video,
    one entry per point (so a doubled point would show twice)."""
    frames = [int(round(t * 1000)) for t, _seg, _vec in store.frames_of(video_id)]
    unit = np.full(512, 1 / np.sqrt(512), np.float32)
    segs = [s.index for s, _score in store.search_segments("copy", unit, 100_000, video_id=video_id)]
    assert store.count_frames(video_id) == len(frames) and store.count_segments(video_id) == len(segs)
    return sorted(frames), sorted(segs)


def assert_exactly_once(store, video_id: str, path, settings) -> tuple[int, int]:
    frames, segs = stored_points(store, video_id)
    want_frames, want_segs = expected_points(path, settings)
    assert len(frames) == len(set(frames)) and len(segs) == len(set(segs))
    assert set(frames) == want_frames, (sorted(want_frames - set(frames)), sorted(set(frames) - want_frames))
    assert set(segs) == want_segs, (sorted(want_segs - set(segs)), sorted(set(segs) - want_segs))
    return len(frames), len(segs)
