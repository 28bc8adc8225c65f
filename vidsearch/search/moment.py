"""Frame hits -> moments: the span of a video where the query matches, around its best frame.

A moment is built from the scores along the video, not from where the nearest frames of the whole
archive happen to fall (which made a small archive answer with whole videos): around a best hit
(a *seed*), the stored frames of that video within :data:`WINDOW_S` are scored against the query
(one filtered store query), and the moment is the contiguous run of frames whose score stays at
least ``floor + RUN * (best - floor)``, where ``floor`` is the query kind's no-match level
(:mod:`vidsearch.search.confidence`). Seeds are taken best first, and a hit inside an earlier
moment seeds nothing, so the moments do not depend on how many results were asked for. A seed
below the floor is a *weak* result: left out unless asked for, and counted. ``RUN`` was chosen on
the shared clips (docs/moments.md): moments of edited stills median 1-2 s, the true time inside.

:func:`merge_hits` is the older merge of adjacent hits, still used by text search (whose moments
are the shots where the query holds). A stored keyframe stands for the run of samples ``[t, until)`` that looked the same (static
footage is embedded once). Hits of one video whose runs touch or lie within ``gap`` seconds of
each other form one moment; its ``timestamp`` is the best-scoring hit, its score that hit's score.

The best hit's time: a keyframe that stands for a run of near-identical samples (``until`` more
than one sample period after it) matched every sample of the run equally well, so the picture's
time is anywhere in the run. Its ``timestamp`` is then the middle sample of the run, which halves
the worst error against the run's first sample (on the shared clips: 16 of 720 edited stills came
back more than 1.5 s early, docs/benchmarks.md "Image search"); ``start``/``end`` still bound the
whole run, so a player opened at ``start`` shows when the picture first appeared.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from vidsearch.records import FrameHit, Moment


@dataclass
class Span:
    video_id: str
    start: float
    end: float
    timestamp: float
    score: float
    segment_index: int
    hits: int
    keyframe: float = 0.0  # the best hit's stored keyframe time (``timestamp`` may be inside its run)


def best_time(hit: FrameHit, sample_period: float) -> float:
    """The time a hit stands for: its keyframe's, or the middle sample of its static run."""
    if hit.until is None:
        return hit.timestamp
    last = max(hit.timestamp, hit.until - sample_period)  # the run's last sample
    return hit.timestamp + round((last - hit.timestamp) / sample_period / 2) * sample_period


def merge_hits(hits: list[FrameHit], *, gap: float, sample_period: float) -> list[Span]:
    """Group hits per video into spans, best span first."""
    by_video: dict[str, list[FrameHit]] = defaultdict(list)
    for h in hits:
        by_video[h.video_id].append(h)
    spans: list[Span] = []
    for video_id, vhits in by_video.items():
        vhits.sort(key=lambda h: h.timestamp)
        cur: Span | None = None
        for h in vhits:
            until = h.until if h.until is not None else h.timestamp + sample_period
            if cur is not None and h.timestamp - cur.end <= gap:
                cur.end = max(cur.end, until)
                cur.hits += 1
                if h.score > cur.score:
                    cur.score, cur.timestamp, cur.segment_index = h.score, best_time(h, sample_period), h.segment_index
                    cur.keyframe = h.timestamp
                continue
            cur = Span(video_id, h.timestamp, until, best_time(h, sample_period), h.score, h.segment_index, 1,
                       h.timestamp)
            spans.append(cur)
    spans.sort(key=lambda s: (-s.score, s.video_id, s.start))
    return spans


RUN = 0.9  # a neighbour stays in the moment while its score >= floor + RUN * (best - floor) (docs/moments.md)
WINDOW_S = 30.0  # seconds either side of a seed whose stored frames are scored
MAX_SORTED = 100  # sort=time orders at most this many moments (the best ones)
SORTS = ("score", "time")


class Moments(list):
    """The moments of one page of results (a list), with what the page left out: ``weak``, the
    results below the floor (not in the list unless asked for), and ``next_offset``, where the next
    page starts (None: no more)."""

    def __init__(self, items=(), *, weak: int = 0, next_offset: int | None = None) -> None:
        super().__init__(items)
        self.weak = weak
        self.next_offset = next_offset


def frames_to_ask(limit: int) -> int:
    """How many nearest frames a search for ``limit`` moments asks the store for."""
    return max(100, limit * 20)


def _until(h: FrameHit, period: float) -> float:
    return h.until if h.until is not None and h.until > h.timestamp else h.timestamp + period


def run_around(seed: FrameHit, profile: list[FrameHit], *, floor: float, period: float,
               run: float | None = None) -> tuple[float, float]:
    """``[start, end)`` of the contiguous stored frames around ``seed`` (``profile``: the video's frames
    near it, scored against the same query) whose score stays at least ``floor + run*(best - floor)``."""
    frames = {round(h.timestamp, 4): h for h in profile if h.video_id == seed.video_id}
    frames[round(seed.timestamp, 4)] = seed
    line = sorted(frames.values(), key=lambda h: h.timestamp)
    i = next(k for k, h in enumerate(line) if h is seed)
    need = floor + (RUN if run is None else run) * (seed.score - floor)
    touch = 0.5 * period + 1e-3  # a gap larger than this: a frame between is not stored or filtered out
    lo = hi = i
    while lo > 0 and line[lo - 1].score >= need and line[lo].timestamp - _until(line[lo - 1], period) <= touch:
        lo -= 1
    while hi + 1 < len(line) and line[hi + 1].score >= need and line[hi + 1].timestamp - _until(line[hi], period) <= touch:
        hi += 1
    return line[lo].timestamp, _until(line[hi], period)


def build_moments(hits: list[FrameHit], profile, catalog, settings, *, floor: float, limit: int = 10,
                  offset: int = 0, include_weak: bool = False, sort: str = "score", label=None) -> Moments:
    """Seeds best first -> moments (see the module notes); one page of ``limit`` from ``offset``.

    ``profile(video_id, start, end)``: the video's stored frames with ``start <= t <= end`` scored
    against the query. ``label(moment)``: sets its ``confidence``/``why`` (``extra``)."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    period = 1.0 / settings.sample_fps
    want = offset + limit + 1 if sort == "score" else MAX_SORTED
    records: dict[str, object] = {}
    covered: dict[str, list[tuple[float, float]]] = defaultdict(list)
    strong: list[Moment] = []
    weak_hits: list[FrameHit] = []

    def indexed(video_id: str):
        if video_id not in records:
            records[video_id] = catalog.get(video_id)
        rec = records[video_id]
        return rec if rec is not None and rec.status == "indexed" else None  # else: being (re)indexed or deleted

    def inside(h: FrameHit) -> bool:
        return any(a - 1e-6 <= h.timestamp < b for a, b in covered[h.video_id])

    for h in sorted(hits, key=lambda h: (-h.score, h.video_id, h.timestamp)):
        if inside(h):
            continue
        rec = indexed(h.video_id)
        if rec is None:
            continue
        if h.score < floor:
            weak_hits.append(h)
            continue
        if len(strong) >= want:
            continue  # enough strong moments: the rest only count towards ``weak``
        start, end = run_around(h, profile(h.video_id, h.timestamp - WINDOW_S, h.timestamp + WINDOW_S),
                                floor=floor, period=period)
        covered[h.video_id].append((start, end))
        strong.append(_moment(h, start, end, rec, settings, period))
    weak_spans = merge_hits([h for h in weak_hits if not inside(h)], gap=max(settings.moment_gap, 1.5 * period),
                            sample_period=period)
    weak = []
    if include_weak:  # a weak seed is its own frame (its static run): nothing around it matches better
        for s in weak_spans[: max(0, offset + limit + 1 - len(strong)) if sort == "score" else MAX_SORTED]:
            hit = FrameHit(s.video_id, s.keyframe, s.segment_index, s.score)
            weak.append(_moment(hit, s.keyframe, s.end if s.hits == 1 else s.keyframe + period, indexed(s.video_id),
                                settings, period, timestamp=s.timestamp))
    return page(strong, weak, weak_count=len(weak_spans), limit=limit, offset=offset, sort=sort,
                records=records, label=label)


def page(strong: list[Moment], weak: list[Moment], *, weak_count: int, limit: int, offset: int, sort: str,
         records: dict, label=None) -> Moments:
    """One page of ``strong`` (best first) then ``weak`` moments (given only when asked for), in
    ``sort`` order; ``records``: the catalog records of their videos (for wall-clock times)."""
    ordered = strong + weak
    if sort == "time":
        ordered.sort(key=lambda m: _time_key(m, records.get(m.video_id)))
    chosen = ordered[offset: offset + limit]
    if label is not None:
        for m in chosen:
            label(m)
    more = len(ordered) > offset + limit
    return Moments(chosen, weak=weak_count, next_offset=offset + limit if more else None)


def _time_key(m: Moment, rec) -> tuple:
    """Wall-clock time where the recording's start is known, else video (by path) then time."""
    wall = getattr(rec, "wall_start", None)
    return (0, wall + m.start, "", 0.0) if wall is not None else (1, 0.0, m.path, m.start)


def _moment(h: FrameHit, start: float, end: float, rec, settings, period: float, *,
            timestamp: float | None = None) -> Moment:
    thumb = settings.thumbnails_dir / h.video_id / f"{h.segment_index:05d}.jpg"
    end = min(end, rec.duration) if rec.duration else end
    t = best_time(h, period) if timestamp is None else timestamp
    return Moment(video_id=h.video_id, path=rec.path, start=start, end=max(end, start), timestamp=min(max(t, start), end),
                  score=h.score, thumbnail=str(thumb) if thumb.exists() else None)


def vector_profile(store, vector_name: str, vector, period: float, *, after: float | None = None,
                   before: float | None = None, where: dict | None = None):
    """``profile(video_id, start, end)`` for :func:`build_moments`: one filtered store query; a
    moment does not reach outside the search's own bounds ``after``/``before`` nor its payload
    filters ``where`` (camera, wall-clock spans)."""
    where = where or {}
    def profile(video_id: str, start: float, end: float) -> list[FrameHit]:
        start = max(0.0, start if after is None else max(start, after))
        end = end if before is None else min(end, before)
        n = int(max(0.0, end - start) / period) + 8
        return store.search_frames(vector_name, vector, n, video_id=video_id, start=start, end=end, **where)

    return profile


def moments_for_vector(store, catalog, settings, vector_name: str, vector, *, limit: int = 10,
                       video_id: str | None = None, after: float | None = None, before: float | None = None,
                       floor: float = 0.0, label=None, where: dict | None = None, **page) -> Moments:
    """Nearest stored frames to ``vector`` -> moments of indexed videos (``page``: offset,
    include_weak, sort as :func:`build_moments` takes them; ``where``: the store's payload filters)."""
    where = where or {}
    hits = store.search_frames(vector_name, vector, frames_to_ask(page.get("offset", 0) + limit), video_id=video_id,
                               start=after, end=before, **where)
    profile = vector_profile(store, vector_name, vector, 1.0 / settings.sample_fps, after=after, before=before,
                             where=where)
    return build_moments(hits, profile, catalog, settings, floor=floor, limit=limit, label=label, **page)
