"""Find similar: a stored frame, or a stored span, of an indexed video as the query.

Nothing is decoded or uploaded: the query is the stored vectors themselves. A frame (``video_id``,
``t``) is the stored keyframe whose run covers ``t`` (else the nearest one), searched with its
``copy`` descriptor as an image query is; a span (``start``..``end``) is the sequence of its stored
keyframes, searched as a query clip is (:func:`vidsearch.search.clip.clip_moments`). The query's
own moment is among the answers (it is the best match of itself).
"""
from __future__ import annotations

import numpy as np

from vidsearch.index.store import COPY, StoredFrame
from vidsearch.search.align import Track
from vidsearch.search.clip import ClipQuery, clip_moments, frame_shape, informative_mask
from vidsearch.search.confidence import labeller, levels
from vidsearch.search.moment import Moments, moments_for_vector

LOOK_BACK_S = 60.0  # a keyframe stands for a static run after it: look this far before t first
LOOK_AHEAD_S = 10.0


def nearest_frame(store, video_id: str, t: float) -> StoredFrame | None:
    """The stored frame of ``video_id`` that shows instant ``t``: the last keyframe at or before
    ``t`` whose run reaches it, else the nearest in time; None when the video has no frames."""
    near = store.frame_vectors(video_id, max(0.0, t - LOOK_BACK_S), t + LOOK_AHEAD_S, vector_name=COPY)
    if not near:
        near = store.frame_vectors(video_id, vector_name=COPY)
    if not near:
        return None
    covering = [f for f in near if f.timestamp <= t + 1e-6 and (f.until if f.until is not None else f.timestamp) >= t]
    if covering:
        return max(covering, key=lambda f: f.timestamp)
    return min(near, key=lambda f: (abs(f.timestamp - t), f.timestamp))


def search_like_frame(source: str, t: float, *, encoders, store, catalog, settings, limit: int = 10,
                      video_id: str | None = None, after: float | None = None, before: float | None = None,
                      where: dict | None = None, **page) -> Moments:
    """Moments like the stored frame of video ``source`` at ``t`` seconds (as an image query of that
    frame; ``video_id``/``after``/``before``/``where`` filter the answers). Unknown video, or none
    of its frames stored: ValueError."""
    frame = nearest_frame(store, source, t)
    if frame is None:
        raise ValueError(f"video {source!r} has no stored frames to search with")
    label = labeller("image")
    return moments_for_vector(store, catalog, settings, COPY, frame.vector, limit=limit, video_id=video_id,
                              after=after, before=before, floor=levels("image").floor, label=label, where=where,
                              **page)


def span_query(source: str, start: float, end: float, *, store, catalog, settings, encoders) -> ClipQuery:
    """The stored keyframes of ``source`` in ``start..end`` as a query clip (times from ``start``)."""
    if not end > start:
        raise ValueError(f"the span {start:g}-{end:g} s is empty: end must be after start")
    longest = settings.max_query_clip_s
    if end - start > longest:
        raise ValueError(f"the span is {end - start:g} s long; a query span may be at most {longest:g} s "
                         f"(VIDSEARCH_MAX_QUERY_CLIP_S)")
    period = 1.0 / settings.sample_fps
    frames = store.frame_vectors(source, start, end, vector_name=COPY)
    before = nearest_frame(store, source, start)  # the keyframe whose static run covers the start
    if before is not None and before.timestamp < start and all(f.timestamp != before.timestamp for f in frames):
        frames = [before, *frames]
    if not frames:
        raise ValueError(f"video {source!r} has no stored frames in {start:g}-{end:g} s")
    times = np.array([max(0.0, f.timestamp - start) for f in frames])
    vectors = np.stack([f.vector for f in frames]).astype(np.float32)
    rec = catalog.get(source)
    shape = frame_shape(rec.width, rec.height, settings.frame_size) if rec is not None else None
    return ClipQuery(path=f"{source}:{start:g}-{end:g}", duration=end - start,
                     track=Track.keyframes(times, period, end=end - start), vectors=vectors,
                     informative=informative_mask(vectors, encoders.copy, shape))


def search_like_span(source: str, start: float, end: float, *, encoders, store, catalog, settings,
                     limit: int = 10, **kw) -> Moments:
    """Moments sharing footage with the stored span ``start..end`` of video ``source`` (a clip
    query of its stored frames; each moment carries ``query_start``/``query_end`` within the span)."""
    query = span_query(source, start, end, store=store, catalog=catalog, settings=settings, encoders=encoders)
    return clip_moments(query, encoders=encoders, store=store, catalog=catalog, settings=settings, limit=limit, **kw)
