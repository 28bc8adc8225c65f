"""Check one indexed video against every watchlist: its moments that match, as alerts.

The video's stored frames are read from the vector store once (``video_vectors``, restricted to
that video), with the vectors the watchlists need; each image, region and example watchlist is then
one matrix product over them, a clip watchlist one alignment (:func:`vidsearch.search.align.align`)
of its stored query descriptors against them, a text watchlist one text search filtered to the
video. So 100 watchlists cost about one read of the video's points (docs/watchlists.md).

Moments are built as searches build them (:func:`vidsearch.search.moment.build_moments`: the run
of frames around each best frame), with the watchlist's threshold as the floor: one alert per
moment, never per frame. Filters: the recording's camera, and the hours of the day of the moment's
wall-clock time (:func:`vidsearch.alert.watchlist.in_hours`).
"""
from __future__ import annotations

import numpy as np

from vidsearch.alert.teach import FEATURES, score_frames
from vidsearch.alert.watchlist import Alert, Watchlist, in_hours
from vidsearch.records import FrameHit, Moment
from vidsearch.search.confidence import confidence, levels
from vidsearch.search.daytime import zone_of
from vidsearch.search.moment import build_moments

MAX_PER_VIDEO = 50  # moments of one video one watchlist can alert on
VOTE_SIM = 0.4  # vidsearch.search.clip.FrameVotes.min_sim
# an image alert scoring below CONFIRMED_SCORE (the clip / dedup same-footage level, above every
# look-alike) needs CONFIRM_INLIERS local-feature inliers with the picture (docs/watchlists.md)
CONFIRMED_SCORE = 0.63
CONFIRM_INLIERS = 30


def needed_vectors(watchlists: list[Watchlist]) -> list[str]:
    names = {"copy"} if any(w.kind in ("image", "region", "clip") for w in watchlists) else set()
    for w in watchlists:
        if w.kind == "examples":
            names.update(n for n in FEATURES if f"w_{n}" in w.model or f"p_{n}" in w.model)
    return sorted(names)


class VideoFrames:
    """The stored frames of one video (hits by time, vectors by name)."""

    def __init__(self, store, video_id: str, names: list[str]):
        self.video_id = video_id
        self.hits, self.vectors = store.video_vectors(video_id, names) if names else ([], {})
        self.informative: np.ndarray | None = None  # of the copy vectors, computed for clip watchlists

    def scored(self, scores: np.ndarray) -> list[FrameHit]:
        return [FrameHit(h.video_id, h.timestamp, h.segment_index, float(s), h.until)
                for h, s in zip(self.hits, scores)]


def moments_of(hits: list[FrameHit], *, floor: float, catalog, settings) -> list[Moment]:
    """Moments of one video's scored frames at or above ``floor`` (the run around each best frame)."""
    if not hits:
        return []

    def profile(video_id, start, end):
        return [h for h in hits if start <= h.timestamp <= end]

    seeds = [h for h in hits if h.score >= floor]
    return list(build_moments(seeds, profile, catalog, settings, floor=floor, limit=MAX_PER_VIDEO))


def match_video(w: Watchlist, frames: VideoFrames, *, lib) -> list[Moment]:
    """The moments of ``frames``' video that ``w`` matches at its threshold (filters not applied)."""
    if w.kind in ("image", "region"):
        copy = frames.vectors.get("copy")
        if copy is None or not len(copy):
            return []
        scores = copy @ w.vectors["copy"]
        if float(scores.max()) < w.threshold:  # most watchlists on most videos: nothing to build
            return []
        hits = frames.scored(scores)
        found = moments_of(hits, floor=w.threshold, catalog=lib.catalog, settings=lib.settings)
        return [m for m in found if _confirmed(w, m, hits, lib)]
    if w.kind == "examples":
        if not frames.hits:
            return []
        scores = score_frames(w.model, frames.vectors)
        if not len(scores) or float(scores.max()) < w.threshold:
            return []
        out = moments_of(frames.scored(scores), floor=w.threshold, catalog=lib.catalog, settings=lib.settings)
        for m in out:
            m.extra["why"] = [f"taught: {w.name}"]
        return out
    if w.kind == "clip":
        return _clip_moments(w, frames, lib)
    if w.kind == "text":
        found = lib.search_text(w.query["text"], limit=MAX_PER_VIDEO, video_id=frames.video_id)
        return [m for m in found if m.score >= w.threshold]
    raise ValueError(f"watchlist {w.name!r}: unknown kind {w.kind!r}")


def _confirmed(w: Watchlist, m: Moment, hits: list[FrameHit], lib) -> bool:
    """Whether an image watchlist's moment is the picture's footage: a copy score at the clip's
    same-footage level, or enough local features shared with the picture (the copy descriptor
    alone also scores a look-alike room up to ~0.6). Regions (no keypoints stored), watchlists
    made before keypoints were stored, and moments whose file cannot be read now keep the score
    alone."""
    if not lib.settings.watchlist_confirm or m.score >= CONFIRMED_SCORE or "orb_desc" not in w.vectors:
        return True
    from vidsearch.search.refine import confirm

    inliers = confirm((w.vectors["orb_points"], w.vectors["orb_desc"]), m, hits, catalog=lib.catalog,
                      settings=lib.settings, enough=CONFIRM_INLIERS)
    return inliers is None or inliers >= CONFIRM_INLIERS


def _clip_moments(w: Watchlist, frames: VideoFrames, lib) -> list[Moment]:
    from vidsearch.search.align import Track, align, suppress
    from vidsearch.search.clip import align_params, frame_shape, informative_mask

    copy = frames.vectors.get("copy")
    if copy is None or not len(copy):
        return []
    rec = lib.catalog.get(frames.video_id)
    if rec is None or rec.status != "indexed":
        return []
    s = lib.settings
    period = 1.0 / s.sample_fps
    ref_track = Track.keyframes(np.array([h.timestamp for h in frames.hits]), period, end=rec.duration)
    v = w.vectors
    sim = v["copy"] @ copy.T
    # as clip search's candidate stage (FrameVotes): only a video that at least two informative
    # query frames hit at VOTE_SIM or more is aligned
    voters = int((sim[v["informative"].astype(bool)].max(axis=1, initial=-1.0) >= VOTE_SIM).sum())
    if voters < min(2, int(v["informative"].sum())):
        return []
    if frames.informative is None:  # once per video, shared by its clip watchlists
        frames.informative = informative_mask(copy, lib.encoders.copy, frame_shape(rec.width, rec.height, s.frame_size))
    ref_info = frames.informative
    q_track = Track.regular(v["times"], float(v["period"][0]), end=float(v["duration"][0]))
    sim[~v["informative"].astype(bool), :] = np.nan
    sim[:, ~ref_info] = np.nan
    out = []
    for a in suppress(align(sim, q_track, ref_track, align_params(s))):
        if a.score < w.threshold:
            continue
        best = max(range(a.nodes), key=lambda k: a.sims[k])
        j = a.path[best][1]
        seg = frames.hits[j].segment_index
        thumb = s.thumbnails_dir / frames.video_id / f"{seg:05d}.jpg"
        out.append(Moment(video_id=frames.video_id, path=rec.path, start=a.ref_start, end=a.ref_end,
                          timestamp=min(max(frames.hits[j].timestamp, a.ref_start), a.ref_end), score=a.score,
                          thumbnail=str(thumb) if thumb.exists() else None,
                          extra={"query_start": round(a.query_start, 3), "query_end": round(a.query_end, 3)}))
    return out


def kind_confidence(w: Watchlist, score: float) -> str:
    if w.kind == "examples":
        return "taught"
    return confidence(w.kind, max(score, levels(w.kind).floor))


def alerts_for(w: Watchlist, moments: list[Moment], rec, zone=None) -> list[Alert]:
    """The moments that pass the watchlist's filters, as (unsaved) alerts; ``zone``: the clock of
    its hours (VIDSEARCH_TIMEZONE, :func:`vidsearch.search.daytime.zone_of`)."""
    out = []
    if w.camera is not None and (rec is None or rec.camera != w.camera):
        return out
    for m in moments:
        wall = rec.wall_start + m.timestamp if rec is not None and rec.wall_start is not None else None
        if not in_hours(w.hours, wall, zone):
            continue
        out.append(Alert(watchlist=w.name, watchlist_id=w.id, video_id=m.video_id, path=m.path, start=m.start,
                         end=m.end, timestamp=m.timestamp, score=m.score, confidence=kind_confidence(w, m.score),
                         thumbnail=m.thumbnail, wall_time=wall))
    return out


def check_video(lib, watchlists: list[Watchlist], video_id: str) -> list[tuple[Watchlist, Alert]]:
    """Every watchlist's alerts on one video (unsaved), watchlist by watchlist."""
    if not watchlists:
        return []
    rec = lib.catalog.get(video_id)
    if rec is None or rec.status != "indexed":
        return []
    wanted = [w for w in watchlists if w.camera is None or w.camera == rec.camera]
    frames = VideoFrames(lib.store, video_id, needed_vectors(wanted))
    out = []
    for w in wanted:
        for a in alerts_for(w, match_video(w, frames, lib=lib), rec, zone_of(lib.settings.timezone)):
            out.append((w, a))
    return out
