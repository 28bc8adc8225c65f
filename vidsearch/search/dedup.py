"""The de-duplication decision: is this footage already in the archive, and where?

One threshold (``settings.dedup_threshold``, VIDSEARCH_DEDUP_THRESHOLD) on the calibrated copy
score of an alignment (:attr:`vidsearch.search.align.Alignment.score`) separates copies from
look-alikes; docs/dedup.md says how it was calibrated and on what.

* :func:`dedup_clip`: a query clip against the index; the confident copies, or nothing.
* :func:`dedup_all`: every pair of spans that share footage, across and within indexed videos.
  It goes through the vector index: each video's stored keyframes are the queries of a per-frame
  kNN search, which names the few other videos worth aligning, so the cost grows with the
  number of stored frames, not with the number of pairs of videos. Each pair of spans is
  reported once.

Within one video, footage that stays similar over time (a static camera, a slow pan) is not a
copy of itself: keyframes joined by a chain of similar neighbours (one continuous shot) are never
aligned with each other, so only footage that returns after a cut can match.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from vidsearch.records import Match
from vidsearch.search.align import Alignment, align, suppress
from vidsearch.search.clip import Reference, align_params, describe_clip, frame_shape, locate, similarity

CONTINUITY_SIM = 0.5  # neighbouring keyframes at least this similar belong to one continuous shot
HIT_MARGIN = 0.1  # dedup aligns only videos with frame hits at least threshold - HIT_MARGIN alike


def candidate_floor(settings) -> float:
    """The first-stage similarity a video's frames must reach before dedup aligns it."""
    return settings.dedup_threshold - HIT_MARGIN


def is_copy(alignment: Alignment, settings) -> bool:
    return alignment.score >= settings.dedup_threshold


def dedup_clip(path, *, encoders, store, catalog, settings) -> list[Match]:
    """Confident copies of (parts of) the clip at ``path`` in the index, best first; [] when none."""
    query = describe_clip(path, encoders=encoders, settings=settings)
    hits = locate(query, store=store, catalog=catalog, settings=settings, encoders=encoders,
                  min_hit=candidate_floor(settings))
    return [h.match() for h in hits if is_copy(h.alignment, settings)]


# -- dedup --all ----------------------------------------------------------------------------------
def continuity_runs(ref: Reference, min_sim: float = CONTINUITY_SIM) -> np.ndarray:
    """A run number per keyframe: consecutive keyframes of one segment whose descriptors are at
    least ``min_sim`` alike share a run (one continuous shot)."""
    n = len(ref.track)
    runs = np.zeros(n, dtype=np.int64)
    if n == 0:
        return runs
    v = ref.vectors
    step = np.einsum("ij,ij->i", v[1:], v[:-1]) if n > 1 else np.zeros(0)
    same = (step >= min_sim) | ~ref.informative[1:] | ~ref.informative[:-1]
    runs[1:] = np.cumsum(~same)
    return runs


def _self_similarity(ref: Reference) -> np.ndarray:
    sim = similarity(ref.vectors, ref.informative, ref)
    runs = continuity_runs(ref)
    sim[runs[:, None] == runs[None, :]] = np.nan
    return sim


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _frame_votes(store, ref: Reference, *, limit: int, min_sim: float, runs: np.ndarray) -> dict[str, float]:
    """Per-frame kNN of every informative keyframe of ``ref``: votes per video. Hits of the same
    video count only outside the keyframe's own continuous shot."""
    votes: dict[str, float] = {}
    times = ref.track.times
    for i in np.flatnonzero(ref.informative):
        best: dict[str, float] = {}
        for h in store.search_frames("copy", ref.vectors[i], limit):
            if h.score < min_sim:
                break
            if h.video_id == ref.video_id:
                k = int(np.searchsorted(times, h.timestamp - 1e-6))
                if k < len(times) and runs[k] == runs[i]:
                    continue
            if h.score > best.get(h.video_id, -1.0):
                best[h.video_id] = h.score
        for vid, s in best.items():
            votes[vid] = votes.get(vid, 0.0) + s
    return votes


def dedup_all(*, encoders, store, catalog, settings, video_ids: Iterable[str] | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[Match]:
    """Every pair of spans sharing footage among the indexed videos (or ``video_ids``), each pair
    once: ``query_*`` is the span in ``query_video_id``, ``ref_*`` the span in ``video_id``."""
    records = {r.id: r for r in catalog.list() if r.status == "indexed"}
    todo = sorted(records) if video_ids is None else [v for v in video_ids if v in records]
    period = 1.0 / settings.sample_fps
    params = align_params(settings)
    refs: dict[str, Reference] = {}

    def ref_of(vid: str) -> Reference:
        if vid not in refs:
            rec = records[vid]
            refs[vid] = Reference.load(store, vid, period=period, duration=rec.duration, copy_model=encoders.copy,
                                       shape=frame_shape(rec.width, rec.height, settings.frame_size))
        return refs[vid]

    done: set[tuple[str, str]] = set()
    matches: list[Match] = []
    for n, vid in enumerate(todo):
        ref = ref_of(vid)
        if len(ref.track):
            runs = continuity_runs(ref)
            limit = min(1000, 64 + len(ref.track))  # room for the video's own frames among the hits
            votes = _frame_votes(store, ref, limit=limit, min_sim=settings.clip_min_sim, runs=runs)
            for other in sorted(votes, key=lambda v: -votes[v])[: settings.clip_candidates]:
                pair = (min(vid, other), max(vid, other))
                if other not in records or pair in done:
                    continue
                done.add(pair)
                if other == vid:
                    # the matrix is symmetric: keep one of the two mirror images, disjoint spans only
                    found = [a for a in align(_self_similarity(ref), ref.track, ref.track, params)
                             if a.query_start < a.ref_start
                             and _overlap(a.query_start, a.query_end, a.ref_start, a.ref_end) <= 0]
                    q, r = ref, ref
                else:
                    q, r = (ref, ref_of(other)) if vid == pair[0] else (ref_of(other), ref)
                    found = align(similarity(q.vectors, q.informative, r), q.track, r.track, params)
                for a in suppress(found):
                    if is_copy(a, settings):
                        matches.append(_pair(records, q.video_id, r.video_id, a))
        refs.pop(vid, None)  # keep memory bounded: a video's vectors are reloaded if needed later
        if progress is not None:
            progress(n + 1, len(todo))
    matches.sort(key=lambda m: (-m.score, m.query_video_id or "", m.query_start))
    return matches


def _pair(records, query_id: str, ref_id: str, a: Alignment) -> Match:
    return Match(video_id=ref_id, path=records[ref_id].path, query_start=a.query_start, query_end=a.query_end,
                 ref_start=a.ref_start, ref_end=a.ref_end, score=a.score, query_video_id=query_id,
                 query_path=records[query_id].path)
