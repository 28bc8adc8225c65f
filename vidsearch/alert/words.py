"""Taught words as text-search terms: the moments an example watchlist's model finds in the archive.

The model is linear in each stored vector (:mod:`vidsearch.alert.teach`), so each of its weight
(or prototype) vectors is one nearest-neighbour query of the store: their best frames name the
candidate videos, whose frames are then all scored exactly and made into moments, each with
``why: ["taught: <name>"]``. The store filters of text search (``where``: camera, wall-clock bounds
and spans) restrict both: the candidate searches take them, and the frames read whole pass them
(:func:`vidsearch.index.store.passes_filters`) before they are scored. :func:`taught_searchers`
gives the library's text search one callable per taught word
(:func:`vidsearch.search.text.search_text`, ``taught=``).
"""
from __future__ import annotations

from collections import Counter

from vidsearch.alert.evaluate import VideoFrames, moments_of
from vidsearch.alert.teach import FEATURES, score_frames
from vidsearch.index.store import FILTER_KEYS, passes_filters
from vidsearch.records import Moment

CANDIDATE_FRAMES = 200  # nearest frames asked per model vector
CANDIDATE_VIDEOS = 12  # videos scored in full


def search_taught(w, *, store, catalog, settings, limit: int = 10, video_id: str | None = None,
                  after: float | None = None, before: float | None = None, where: dict | None = None) -> list[Moment]:
    """The moments ``w``'s model finds, best first; ``video_id``, ``after``/``before`` (video
    seconds) and ``where`` (the store's payload filters, :data:`FILTER_KEYS`) as in text search."""
    where = {k: v for k, v in (where or {}).items() if v is not None}
    unknown = set(where) - set(FILTER_KEYS)
    if unknown:
        raise ValueError(f"unknown store filters {sorted(unknown)}; expected some of {list(FILTER_KEYS)}")
    names = [n for n in FEATURES if f"w_{n}" in w.model or f"p_{n}" in w.model]
    votes: Counter = Counter()
    for n in names:
        vec = w.model.get(f"w_{n}", w.model.get(f"p_{n}"))
        for h in store.search_frames(n, vec, CANDIDATE_FRAMES, video_id=video_id, start=after, end=before,
                                     **where):
            votes[h.video_id] += max(h.score, 0.0)
    out: list[Moment] = []
    for vid, _ in votes.most_common(CANDIDATE_VIDEOS):
        frames = VideoFrames(store, vid, names)
        if not frames.hits:
            continue
        keep = [(after is None or h.timestamp >= after) and (before is None or h.timestamp <= before)
                and (not where or passes_filters(h.extra, **where)) for h in frames.hits]  # payloads: extra
        hits = [h for h, k in zip(frames.scored(score_frames(w.model, frames.vectors)), keep) if k]
        for m in moments_of(hits, floor=w.threshold, catalog=catalog, settings=settings):
            m.extra["why"] = [f"taught: {w.name}"]
            m.extra["confidence"] = "taught"
            out.append(m)
    out.sort(key=lambda m: (-m.score, m.video_id, m.start))
    return out[:limit]


def taught_searchers(watchlists, *, store, catalog, settings) -> dict:
    """``{name: search(limit, video_id, after, before, where) -> [Moment]}`` for every example watchlist."""
    def searcher(w):
        return lambda **kw: search_taught(w, store=store, catalog=catalog, settings=settings, **kw)

    return {w.name: searcher(w) for w in watchlists if w.kind == "examples" and w.model}
