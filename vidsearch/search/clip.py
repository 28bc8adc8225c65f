"""Query by clip: which indexed videos contain this footage, and where?

Two stages, as in the VSC 2022 baseline:

1. **candidates**: a :class:`CandidateSource` turns the query into candidate videos with votes.
   :class:`FrameVotes` (the default) searches the stored ``copy`` frame descriptors with a
   spread of query frames (per-frame kNN) and lets every query frame vote once per video.
   :class:`SegmentVotes` searches the ``segments`` collection instead, with one vector per query
   window (mean-pooled copy descriptors today; a temporal segment encoder plugs in as its
   ``embed``), so segment-level retrieval can replace or join frame votes without touching the
   rest.
2. **alignment**: for each candidate, the query x reference similarity matrix of copy descriptors
   (``store.frames_of``) goes through :func:`vidsearch.search.align.align`, which gives the copied
   spans in both videos and a calibrated score.

The query is decoded with :func:`~vidsearch.media.decode.sample_frames` at ``settings.clip_fps``
(denser than the index's 1 frame/s: short clips get enough rows, and the query rows bracket each
stored keyframe) up to a budget of ``settings.clip_max_frames`` samples, beyond which the rate
drops, never below the index's own (embedding the samples is most of a query's time; docs/dedup.md
has the measurements), and described with the very encoder the index used. A query clip longer
than ``settings.max_query_clip_s`` (VIDSEARCH_MAX_QUERY_CLIP_S) is refused from its probed duration
before a frame is sampled (:class:`~vidsearch.media.errors.TooLarge`, ``clip_too_long``), and
sampling stops after that many seconds of decoded video whatever the file declares. Frames that carry no
picture (black, flat colour, fades to black: their descriptor is close to a flat picture's) are
left out on both sides, or every black frame would be a copy of every other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Protocol

import numpy as np

from vidsearch.media import probe, sample_frames
from vidsearch.media.decode import prefetched
from vidsearch.media.errors import TooLarge
from vidsearch.records import Match, Moment
from vidsearch.search.align import Alignment, AlignParams, Track, align, suppress
from vidsearch.search.confidence import SAME, SIMILAR, confidence, labeller, levels
from vidsearch.search.moment import Moments, page

FLAT_SIM = 0.6  # a descriptor at least this close to a flat picture's says nothing about the footage


# -- query description ------------------------------------------------------------------------
@dataclass
class ClipQuery:
    """A query clip as sampled descriptors."""

    path: str
    duration: float
    track: Track
    vectors: np.ndarray  # (N, 512) copy descriptors, L2-normalised
    informative: np.ndarray  # (N,) bool: not a flat / black picture

    def __len__(self) -> int:
        return len(self.track)


COMMON_SHAPES = ((224, 224), (224, 299), (224, 398))  # (height, width) of 1:1, 4:3 and 16:9 frames at 224 px


@lru_cache(maxsize=32)
def _flat_descriptors(copy_model, shape: tuple[int, int]) -> np.ndarray:
    """Descriptors of pictures with no content (grey levels, pure colours, smooth gradients) of one
    frame shape. A flat picture gives the network almost nothing to go on, so its descriptor
    depends on the exact frame size (a black 224x300 frame is only ~0.36 alike a black 224x224
    one): they are computed at the size the frames in question were embedded at."""
    h, w = shape
    images = [np.full((h, w, 3), g, np.uint8) for g in (0, 16, 32, 64, 128, 192, 255)]
    images += [np.full((h, w, 3), c, np.uint8)
               for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255))]
    images.append(np.ascontiguousarray(np.broadcast_to(np.linspace(0, 255, w).astype(np.uint8)[None, :, None],
                                                       (h, w, 3))))
    images.append(np.ascontiguousarray(np.broadcast_to(np.linspace(0, 255, h).astype(np.uint8)[:, None, None],
                                                       (h, w, 3))))
    return copy_model.embed(images)


def frame_shape(width: int | None, height: int | None, short_side: int) -> tuple[int, int] | None:
    """(height, width) of a video's sampled frames (short side ``short_side``, display aspect)."""
    if not width or not height:
        return None
    scale = short_side / min(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def informative_mask(vectors: np.ndarray, copy_model, shape: tuple[int, int] | None = None,
                     flat_sim: float = FLAT_SIM) -> np.ndarray:
    """True for descriptors of real content, False for black / flat / smooth-gradient pictures.
    ``shape``: (height, width) the frames were embedded at (the common shapes are always tried)."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=bool)
    shapes = set(COMMON_SHAPES) | ({tuple(shape)} if shape else set())
    flats = np.concatenate([_flat_descriptors(copy_model, s) for s in sorted(shapes)])
    return (np.asarray(vectors, np.float32) @ flats.T).max(axis=1) < flat_sim


def query_fps(settings, duration: float) -> float:
    """The sampling rate of a query: ``clip_fps`` for short clips, lowered for longer ones to
    ``clip_max_frames`` samples, never below the index's own rate."""
    fps = settings.clip_fps
    if duration > 0 and duration * fps > settings.clip_max_frames:
        fps = max(settings.clip_max_frames / duration, settings.sample_fps)
    return fps


QUERY_CHUNK = 8  # frames per decoded chunk of a query: small, so decoding and embedding overlap


def describe_clip(path, *, encoders, settings, fps: float | None = None) -> ClipQuery:
    """Decode, sample and describe a query clip. Bad media raises :class:`MediaError`, a clip over
    ``settings.max_query_clip_s`` :class:`TooLarge` (before it is decoded)."""
    path = str(path)
    info = probe(path)
    longest = settings.max_query_clip_s
    if info.duration > longest:
        raise TooLarge(path, f"the clip is {info.duration:.1f} s long; a query clip may be at most {longest:g} s "
                             f"(VIDSEARCH_MAX_QUERY_CLIP_S)", "clip_too_long")
    fps = fps or query_fps(settings, info.duration)
    most = math.ceil(longest * fps) + 1  # samples of that many seconds, if the file's times lie too
    times: list[float] = []
    vecs: list[np.ndarray] = []
    shape = None
    chunks = sample_frames(path, info, fps=fps, short_side=settings.frame_size,
                           chunk=min(settings.decode_chunk, QUERY_CHUNK), timeout=settings.decode_timeout,
                           decoder=settings.decoder)
    for chunk in prefetched(chunks):
        chunk = [f for f in chunk if f.timestamp <= longest][: most - len(times)]
        if not chunk:
            break  # the file is longer than it said: the rest is not decoded
        times.extend(f.timestamp for f in chunk)
        shape = chunk[0].image.shape[:2]
        vecs.append(encoders.copy.embed([f.image for f in chunk]))
        if len(times) >= most:
            break
    vectors = np.concatenate(vecs) if vecs else np.zeros((0, encoders.copy.dim), np.float32)
    track = Track.regular(times, 1.0 / fps, end=max(info.duration, (times[-1] if times else 0.0)))
    return ClipQuery(path=path, duration=info.duration, track=track, vectors=vectors,
                     informative=informative_mask(vectors, encoders.copy, shape))


# -- first stage: candidate videos --------------------------------------------------------------
class CandidateSource(Protocol):
    def candidates(self, query: ClipQuery, store) -> dict[str, float]:
        """Candidate video ids with their votes (higher: more likely to hold the footage)."""


def _spread(indices: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` of ``indices``, evenly spread."""
    if len(indices) <= n:
        return indices
    return indices[np.unique(np.linspace(0, len(indices) - 1, n).round().astype(int))]


@dataclass
class FrameVotes:
    """Per-frame kNN over stored copy descriptors. Each of at most ``max_queries`` informative
    query frames (evenly spread) asks for its ``limit`` nearest stored frames; a video gets, from
    each query frame, its best hit's similarity when that is at least ``min_sim``, and is a
    candidate when at least ``min_voters`` query frames (or all, when fewer) voted for it.

    ``min_sim`` 0.4: frames of the weakest transformed copies in the benchmark still average
    0.52 along their alignment, while unrelated footage stays below ~0.3 (docs/dedup.md)."""

    max_queries: int = 16
    limit: int = 50
    min_sim: float = 0.4
    min_voters: int = 2
    where: dict = field(default_factory=dict)  # payload filters of the store (camera, wall-clock spans)

    def candidates(self, query: ClipQuery, store) -> dict[str, float]:
        votes: dict[str, float] = {}
        voters: dict[str, int] = {}
        asked = _spread(np.flatnonzero(query.informative), self.max_queries)
        for i in asked:
            best: dict[str, float] = {}
            for h in store.search_frames("copy", query.vectors[i], self.limit, **self.where):
                if h.score < self.min_sim:
                    break  # hits come best first
                if h.score > best.get(h.video_id, -1.0):
                    best[h.video_id] = h.score
            for vid, s in best.items():
                votes[vid] = votes.get(vid, 0.0) + s
                voters[vid] = voters.get(vid, 0) + 1
        need = min(self.min_voters, len(asked))
        return {vid: v for vid, v in votes.items() if voters[vid] >= need}


def mean_pool(query: ClipQuery, window: float) -> list[np.ndarray]:
    """One L2-normalised mean of the informative copy descriptors per ``window`` seconds."""
    out = []
    t = query.track.times
    for start in np.arange(0.0, max(query.duration, float(t[-1]) if len(t) else 0.0) + 1e-9, window):
        sel = query.informative & (t >= start) & (t < start + window)
        if sel.any():
            v = query.vectors[sel].mean(axis=0)
            out.append(v / max(float(np.linalg.norm(v)), 1e-12))
    return out


@dataclass
class SegmentVotes:
    """Search the stored segment vectors: one query vector per ``window`` seconds of the clip.

    ``vector_name`` is the segment vector searched, ``embed`` turns the query into vectors of that
    kind (default: mean-pooled copy descriptors, which is what ingestion stores as the ``copy``
    segment vector). A temporal segment encoder plugs in here with its own name and ``embed``."""

    vector_name: str = "copy"
    window: float = 10.0
    limit: int = 20
    min_sim: float = 0.3
    embed: Callable[[ClipQuery, float], list[np.ndarray]] = mean_pool

    def candidates(self, query: ClipQuery, store) -> dict[str, float]:
        votes: dict[str, float] = {}
        for v in self.embed(query, self.window):
            best: dict[str, float] = {}
            for seg, s in store.search_segments(self.vector_name, v, self.limit):
                if s >= self.min_sim and s > best.get(seg.video_id, -1.0):
                    best[seg.video_id] = s
            for vid, s in best.items():
                votes[vid] = votes.get(vid, 0.0) + s
        return votes


# -- second stage: alignment ----------------------------------------------------------------------
@dataclass
class Reference:
    """A stored video's keyframes as the aligner needs them."""

    video_id: str
    track: Track
    vectors: np.ndarray
    segments: np.ndarray  # segment index per keyframe
    informative: np.ndarray

    @classmethod
    def load(cls, store, video_id: str, *, period: float, duration: float | None, copy_model,
             shape: tuple[int, int] | None = None) -> "Reference":
        """``shape``: (height, width) its frames were embedded at (:func:`frame_shape`), when known."""
        rows = store.frames_of(video_id)
        times = np.array([r[0] for r in rows], dtype=np.float64)
        vectors = np.stack([r[2] for r in rows]).astype(np.float32) if rows else np.zeros((0, 512), np.float32)
        return cls(video_id=video_id, track=Track.keyframes(times, period, end=duration), vectors=vectors,
                   segments=np.array([r[1] for r in rows], dtype=np.int64),
                   informative=informative_mask(vectors, copy_model, shape))


def similarity(query_vectors, query_informative, ref: Reference) -> np.ndarray:
    """Cosine similarities, NaN where either frame is uninformative."""
    sim = np.asarray(query_vectors, np.float32) @ ref.vectors.T
    sim[~np.asarray(query_informative, bool), :] = np.nan
    sim[:, ~ref.informative] = np.nan
    return sim


@dataclass
class ClipHit:
    """One located copy of (part of) the query in an indexed video."""

    video_id: str
    path: str
    alignment: Alignment
    timestamp: float  # reference time of the best-matching keyframe on the path
    segment_index: int
    votes: float = 0.0
    extra: dict = field(default_factory=dict)

    def match(self) -> Match:
        a = self.alignment
        return Match(video_id=self.video_id, path=self.path, query_start=a.query_start, query_end=a.query_end,
                     ref_start=a.ref_start, ref_end=a.ref_end, score=a.score)


def align_params(settings) -> AlignParams:
    return AlignParams(min_sim=settings.clip_min_sim)


def locate(query: ClipQuery, *, store, catalog, settings, encoders, sources: list[CandidateSource] | None = None,
           max_candidates: int | None = None, min_hit: float | None = None, where: dict | None = None) -> list[ClipHit]:
    """Every located copy of the query in the index, best score first (no threshold applied).

    ``min_hit``: with the default candidate source, a video is only aligned when query frames hit
    its frames at least this alike (dedup passes a little under its threshold: a copy whose frames
    average the threshold has frames above it, and unrelated videos are not aligned at all).
    ``where``: the store's payload filters, which the default source's frame searches apply
    (only videos with frames that pass them are candidates)."""
    if not query.informative.any():
        return []
    if sources is None:
        sources = [FrameVotes(min_sim=max(FrameVotes.min_sim, min_hit or 0.0), where=dict(where or {}))]
    votes: dict[str, float] = {}
    for src in sources:
        for vid, v in src.candidates(query, store).items():
            votes[vid] = votes.get(vid, 0.0) + v
    ranked = sorted(votes, key=lambda v: -votes[v])[: max_candidates or settings.clip_candidates]
    period = 1.0 / settings.sample_fps
    params = align_params(settings)
    hits: list[ClipHit] = []
    for vid in ranked:
        rec = catalog.get(vid)
        if rec is None or rec.status != "indexed":
            continue
        ref = Reference.load(store, vid, period=period, duration=rec.duration, copy_model=encoders.copy,
                             shape=frame_shape(rec.width, rec.height, settings.frame_size))
        if len(ref.track) == 0:
            continue
        sim = similarity(query.vectors, query.informative, ref)
        for a in suppress(align(sim, query.track, ref.track, params)):
            best = max(range(a.nodes), key=lambda k: a.sims[k])
            j = a.path[best][1]
            hits.append(ClipHit(video_id=vid, path=rec.path, alignment=a, timestamp=float(ref.track.times[j]),
                                segment_index=int(ref.segments[j]), votes=votes[vid]))
    hits.sort(key=lambda h: (-h.alignment.score, h.video_id, h.alignment.ref_start))
    return hits


def hits_to_moments(hits: list[ClipHit], settings, limit: int) -> list[Moment]:
    moments = []
    for h in hits[:limit]:
        a = h.alignment
        thumb = settings.thumbnails_dir / h.video_id / f"{h.segment_index:05d}.jpg"
        moments.append(Moment(
            video_id=h.video_id, path=h.path, start=a.ref_start, end=a.ref_end,
            timestamp=min(max(h.timestamp, a.ref_start), a.ref_end), score=a.score,
            thumbnail=str(thumb) if thumb.exists() else None,
            extra={"query_start": round(a.query_start, 3), "query_end": round(a.query_end, 3)},
        ))
    return moments


def search_clip(path, *, encoders, store, catalog, settings, limit: int = 10, min_score: float | None = None,
                video_id: str | None = None, after: float | None = None, before: float | None = None,
                offset: int = 0, include_weak: bool = False, sort: str = "score", where: dict | None = None) -> Moments:
    """Ranked moments of indexed videos that share footage with the clip at ``path``; each carries
    ``query_start``/``query_end`` (where in the clip) and its ``confidence``. Alignments below the
    clip floor (:mod:`vidsearch.search.confidence`) are weak: counted, returned only with
    ``include_weak``. ``min_score`` drops weaker alignments altogether; dedup applies the calibrated
    threshold instead. ``video_id``, ``after``, ``before``: only moments of that video, overlapping that
    span of its time. ``where``: the store's payload filters (camera, wall-clock spans): candidates
    must have frames that pass them, and a moment must overlap the wall-clock spans."""
    query = describe_clip(path, encoders=encoders, settings=settings)
    return clip_moments(query, encoders=encoders, store=store, catalog=catalog, settings=settings, limit=limit,
                        min_score=min_score, video_id=video_id, after=after, before=before, offset=offset,
                        include_weak=include_weak, sort=sort, where=where)


def _on_the_clock(m: Moment, rec, where: dict) -> bool:
    """The moment overlaps the wall-clock bounds and spans of ``where`` (a video without a known
    start never does, as its frames never pass a wall-clock filter)."""
    if not any(where.get(k) is not None for k in ("wall_after", "wall_before", "wall_ranges")):
        return True
    if rec is None or rec.wall_start is None:
        return False
    a, b = rec.wall_start + m.start, rec.wall_start + m.end
    if (where.get("wall_after") is not None and b < where["wall_after"]) or \
            (where.get("wall_before") is not None and a > where["wall_before"]):
        return False
    spans = where.get("wall_ranges")
    return spans is None or any(lo <= b and hi >= a for lo, hi in spans)


def clip_moments(query: ClipQuery, *, encoders, store, catalog, settings, limit: int = 10,
                 min_score: float | None = None, video_id: str | None = None, after: float | None = None,
                 before: float | None = None, offset: int = 0, include_weak: bool = False, sort: str = "score",
                 where: dict | None = None, exclude=None) -> Moments:
    """:func:`search_clip` for a described query (a decoded clip, or stored frames: find-similar).
    ``exclude(moment)``: True for moments to leave out (the query's own footage)."""
    where = {k: v for k, v in (where or {}).items() if v is not None}
    hits = locate(query, store=store, catalog=catalog, settings=settings, encoders=encoders, where=where)
    if min_score is not None:
        hits = [h for h in hits if h.alignment.score >= min_score]
    found = [m for m in hits_to_moments(hits, settings, len(hits)) if (video_id is None or m.video_id == video_id)
             and (after is None or m.end >= after) and (before is None or m.start <= before)
             and not (exclude is not None and exclude(m))]
    if where:
        recs = {m.video_id: catalog.get(m.video_id) for m in found}
        found = [m for m in found if _on_the_clock(m, recs[m.video_id], where)]
    floor = levels("clip").floor
    strong = [m for m in found if m.score >= floor]
    weak = [m for m in found if m.score < floor]
    records = {m.video_id: catalog.get(m.video_id) for m in found} if sort == "time" else {}
    return page(strong, weak if include_weak else [], weak_count=len(weak), limit=limit, offset=offset, sort=sort,
                records=records, label=labeller("clip", why=_clip_reason))


def _clip_reason(m: Moment) -> list[str]:
    what = {SAME: "the same footage", SIMILAR: "footage like the clip's"}.get(confidence("clip", m.score),
                                                                              "a faint resemblance to the clip")
    return [f"{what}: {m.extra['query_start']:.1f}-{m.extra['query_end']:.1f} s of the clip"]
