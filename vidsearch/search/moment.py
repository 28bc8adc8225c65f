"""Frame hits -> moments: adjacent hits in one video merge into one span.

A stored keyframe stands for the run of samples ``[t, until)`` that looked the same (static
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


def moments_for_vector(store, catalog, settings, vector_name: str, vector, *, limit: int = 10,
                       video_id: str | None = None, after: float | None = None,
                       before: float | None = None) -> list[Moment]:
    """Nearest stored frames to ``vector`` -> merged, ranked moments of indexed videos."""
    hits = store.search_frames(vector_name, vector, frames_to_ask(limit), video_id=video_id, start=after, end=before)
    return moments_from_hits(hits, catalog, settings, limit=limit)


def frames_to_ask(limit: int) -> int:
    """How many nearest frames a search for ``limit`` moments asks the store for."""
    return max(100, limit * 20)


def moments_from_hits(hits: list[FrameHit], catalog, settings, *, limit: int = 10) -> list[Moment]:
    """Frame hits -> merged, ranked moments of indexed videos (at most ``limit``)."""
    period = 1.0 / settings.sample_fps
    moments: list[Moment] = []
    records = {}
    for span in merge_hits(hits, gap=max(settings.moment_gap, 1.5 * period), sample_period=period):
        if span.video_id not in records:
            records[span.video_id] = catalog.get(span.video_id)
        rec = records[span.video_id]
        if rec is None or rec.status != "indexed":
            continue  # points of a video being (re)indexed or deleted
        thumb = settings.thumbnails_dir / span.video_id / f"{span.segment_index:05d}.jpg"
        moments.append(Moment(
            video_id=span.video_id, path=rec.path, start=span.start, end=min(span.end, rec.duration or span.end),
            timestamp=span.timestamp, score=span.score, thumbnail=str(thumb) if thumb.exists() else None,
        ))
        if len(moments) == limit:
            break
    return moments
