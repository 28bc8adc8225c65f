"""Taught words as text-search terms: the moments an example watchlist's model finds in the archive.

The model is linear in each stored vector (:mod:`vidsearch.alert.teach`), so each of its weight
(or prototype) vectors is one nearest-neighbour query of the store: their best frames name the
candidate videos, whose frames are then all scored exactly and made into moments, each with
``why: ["taught: <name>"]``. :func:`taught_searchers` gives the library's text search one callable
per taught word (:func:`vidsearch.search.text.search_text`, ``taught=``).
"""
from __future__ import annotations

from collections import Counter

from vidsearch.alert.evaluate import VideoFrames, moments_of
from vidsearch.alert.teach import FEATURES, score_frames
from vidsearch.records import Moment

CANDIDATE_FRAMES = 200  # nearest frames asked per model vector
CANDIDATE_VIDEOS = 12  # videos scored in full


def search_taught(w, *, store, catalog, settings, limit: int = 10, video_id: str | None = None,
                  after: float | None = None, before: float | None = None) -> list[Moment]:
    names = [n for n in FEATURES if f"w_{n}" in w.model or f"p_{n}" in w.model]
    votes: Counter = Counter()
    for n in names:
        vec = w.model.get(f"w_{n}", w.model.get(f"p_{n}"))
        for h in store.search_frames(n, vec, CANDIDATE_FRAMES, video_id=video_id, start=after, end=before):
            votes[h.video_id] += max(h.score, 0.0)
    out: list[Moment] = []
    for vid, _ in votes.most_common(CANDIDATE_VIDEOS):
        frames = VideoFrames(store, vid, names)
        if not frames.hits:
            continue
        hits = frames.scored(score_frames(w.model, frames.vectors))
        hits = [h for h in hits if (after is None or h.timestamp >= after) and (before is None or h.timestamp <= before)]
        for m in moments_of(hits, floor=w.threshold, catalog=catalog, settings=settings):
            m.extra["why"] = [f"taught: {w.name}"]
            m.extra["confidence"] = "taught"
            out.append(m)
    out.sort(key=lambda m: (-m.score, m.video_id, m.start))
    return out[:limit]


def taught_searchers(watchlists, *, store, catalog, settings) -> dict:
    """``{name: search(limit, video_id, after, before) -> [Moment]}`` for every example watchlist."""
    def searcher(w):
        return lambda **kw: search_taught(w, store=store, catalog=catalog, settings=settings, **kw)

    return {w.name: searcher(w) for w in watchlists if w.kind == "examples" and w.model}
