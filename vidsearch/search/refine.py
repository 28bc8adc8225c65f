"""Query-time refinement of an image query's best time: the default of the library, the CLI, the
API and the search page (``refine=false`` / ``VIDSEARCH_IMAGE_REFINE=0`` skip it); one at a time per
process (:data:`SLOTS`), a search that finds it busy keeps the stored answer.

Frames are stored about one per sample period (1 s by default), so a picture taken between two
samples is known only to the nearest sample, and in footage that changes little (a person who
barely moves, a juggler whose pose repeats) the copy descriptor (SSCD), which is built to ignore
small differences, often scores a sample seconds away a hair above the right one.

The refinement re-checks the first moment against the source video:

1. Candidates: the stored frames of the moment's video among the search's hits, inside the
   moment, scoring at least ``best - MARGIN``; the best ``CANDIDATES`` of them.
2. Around each candidate that is not a static run, the source is decoded at ``DENSITY`` frames per
   sample period over +- half a period: only those seconds, with PyAV's span decoding (the frames
   of a whole-video decode), windows less than ``JOIN_S`` apart in one pass. Around a static run's
   keyframe only the period before it and the period after the run's last sample (where its
   picture may have begun and ended): no frame inside such a run can be told from another.
3. Each decoded frame is matched with the query by local features (ORB keypoints, ratio test, a
   RANSAC similarity transform: crops, borders, scaling and small rotations are what it models)
   and scored by its number of inliers. Local features count the structure that two pictures
   share exactly, so they separate neighbouring moments of near-still footage that the
   descriptor, by design, treats as one.
4. The frame with the most inliers (at least ``MIN_INLIERS``) gives the timestamp. A still run's
   keyframe (the winner, or the stored answer kept) gives the middle of its picture's decoded
   extent (:func:`still_extent`): every instant of a still shows the query's picture, and the
   middle is the nearest to all of them. The instant never leaves the moment (the run of frames
   that match as well as its best), and when the stored answer is a still run, a frame beside it
   must beat the run's own frame by ``HOLD`` times its inliers: inlier counts are noisy, and a
   still run that matches as well as any frame near it is where the picture is. Otherwise, or
   when the video file is gone or changed since it was indexed, the moment is returned unchanged.

The decoded frames' features are kept in :data:`CACHE`, so a search near a moment refined before
decodes nothing. Measured on the shared clips (docs/moments.md "The instant"): edited stills right
within 1.5 s 93.1% without it, 97.5% with it; its cost is in docs/benchmarks.md.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from vidsearch.records import FrameHit, Moment, VideoInfo
from vidsearch.search.moment import best_time
from vidsearch.segment.signature import changed_fraction_grey, grey_thumbnail

log = logging.getLogger(__name__)

CANDIDATES = 4  # stored frames re-checked
MARGIN = 0.05  # copy-score distance below the best hit within which a stored frame is a candidate
DENSITY = 4  # decoded frames per sample period around a candidate
MIN_INLIERS = 10  # fewer feature inliers than this: the match is not trusted, the moment is kept
ORB_FEATURES = 1500
RATIO = 0.8  # Lowe's ratio test
RANSAC_PX = 3.0
JOIN_S = 10.0  # windows closer than this are decoded in one pass (see _decode_spans)
# refinements that run at once in a process; a search that finds them all busy keeps the stored
# answer: under load (a server with many clients) the refinement's decoding would otherwise cost
# most of the CPU (measured: 50 clients, 4.0 instead of 29.7 requests/s, docs/benchmarks.md)
SLOTS = threading.BoundedSemaphore(1)
HOLD = 1.25  # a frame beside a still run must have this many times the run's inliers to move the instant
# mean grey difference (0-1, the ingest's 64-px thumbnail) above which two frames are not one still
# picture; on the shared clips the frames of a still differ by at most 0.5 / 255, the first frames of
# the fades that end or begin them by 4.7 and 14 / 255 (testvideo.mp4, docs/moments.md)
SAME_GREY = 2.0 / 255


def _gray(image: np.ndarray, short_side: int) -> np.ndarray:
    import cv2

    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    g = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    scale = short_side / min(g.shape[:2])
    size = (max(1, round(g.shape[1] * scale)), max(1, round(g.shape[0] * scale)))
    return cv2.resize(g, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


Features = tuple  # (points (N, 2) float32, ORB descriptors (N, 32) uint8), or () for a frame without any
# a decoded frame of the grid: (time, Features or None where they were not computed (inside a still
# run, where only the picture's extent is asked), grey thumbnail (the ingest's, in [0, 1]))
Decoded = tuple


def features(orb, gray: np.ndarray) -> Features:
    kp, desc = orb.detectAndCompute(gray, None)
    if desc is None or len(kp) < 8:
        return ()
    return np.float32([k.pt for k in kp]), desc


class FeatureCache:
    """The ORB features and grey thumbnails of decoded frames, by (video, frame of the decode grid):
    a search near a moment that was refined before (a variant of the same picture, the next page, a
    reload of the same link) matches against them without decoding again. Least recently used out
    past ``max_bytes``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[float, Features]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(item: tuple) -> int:
        _, f, thumb = item
        return 64 + (f[0].nbytes + f[1].nbytes if f else 0) + (thumb.nbytes if thumb is not None else 0)

    def get(self, key: tuple) -> Decoded | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple, timestamp: float | None, f: Features | None, thumb: np.ndarray | None = None) -> None:
        item = (timestamp, f, thumb)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._size(old)
            self._items[key] = item
            self._bytes += self._size(item)
            while self._bytes > self.max_bytes and self._items:
                _, gone = self._items.popitem(last=False)
                self._bytes -= self._size(gone)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


CACHE = FeatureCache(48 << 20)  # about 3000 frames' features (500 ORB features each)


class FeatureMatcher:
    """ORB features of one query picture, matched against frames: inliers of a similarity transform."""

    def __init__(self, query_gray: np.ndarray | None = None, *, query: Features | None = None):
        import cv2

        self._cv2 = cv2
        self.orb = cv2.ORB_create(nfeatures=ORB_FEATURES)
        self._bf = cv2.BFMatcher(cv2.NORM_HAMMING)
        self._q = query if query is not None else features(self.orb, query_gray)

    def inliers(self, frame_gray: np.ndarray) -> int:
        return self.inliers_of(features(self.orb, frame_gray))

    def inliers_of(self, frame: Features) -> int:
        cv2 = self._cv2
        if not self._q or not frame:
            return 0
        (pq, dq), (pf, df) = self._q, frame
        good = [m[0] for m in self._bf.knnMatch(dq, df, k=2)
                if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
        if len(good) < 8:
            return 0
        src = pf[[g.trainIdx for g in good]]
        dst = pq[[g.queryIdx for g in good]]
        model, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
        return 0 if model is None or mask is None else int(mask.sum())


def candidates(hits: list[FrameHit], moment: Moment) -> list[FrameHit]:
    """The stored frames of ``moment`` worth re-checking, best first."""
    own = [h for h in hits if h.video_id == moment.video_id and moment.start - 1e-6 <= h.timestamp <= moment.end]
    if not own:
        return []
    best = max(h.score for h in own)
    own.sort(key=lambda h: (-h.score, h.timestamp))
    return [h for h in own if h.score >= best - MARGIN][:CANDIDATES]


def _windows(cands: list[FrameHit], period: float) -> list[tuple[float, float]]:
    """Merged ``[start, end)`` spans to decode: +- half a period around each non-static candidate;
    around a static run's keyframe, the period before it, up to the keyframe (the run's picture may
    have begun after the sample before), and the period from the run's last sample up to ``until``
    (it may have ended before the next): inside the run nothing can be told apart, so nothing there
    is decoded. Starts lie on the decode grid (multiples of one decode step), so a window decodes
    the same frames alone or as part of a longer pass."""
    step = period / DENSITY
    grid = lambda t: max(0.0, math.floor(t / step + 1e-6) * step)  # noqa: E731
    spans = []
    for h in cands:
        if _static(h, period):
            spans.append((grid(h.timestamp - period), h.timestamp + step / 2))
            spans.append((max(grid(h.until - period), h.timestamp + step / 2), h.until))
        else:
            spans.append((grid(h.timestamp - period / 2), h.timestamp + period / 2 + step / 2))
    return _merged(spans, 0.0)


def _merged(spans: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """``spans`` in time order, those at most ``gap`` seconds apart (overlapping: 0) joined."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] <= gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _decode_spans(windows: list[tuple[float, float]], join: float) -> list[tuple[float, float]]:
    """Windows less than ``join`` seconds apart are decoded in one pass: a decode starts at a
    keyframe, which may lie seconds before a window (one keyframe in a whole clip is common), so one
    pass over a few seconds costs less than a seek and a decode per window."""
    return _merged(windows, join)


def _inside_run(t: float, cands: list[FrameHit], period: float) -> bool:
    """Whether the decode grid's time ``t`` lies inside the static run of one of the candidates (its
    keyframe stands for it). A grid time within half a step of the run's end stands for the frame of
    the next sample, which is not the run's (a sample at 6.04 s is the grid's 6.0 s), and may be a
    candidate of its own."""
    half = period / DENSITY / 2
    return any(_static(h, period) and h.timestamp + 1e-3 < t < h.until - half for h in cands)


def _static(h: FrameHit, period: float) -> bool:
    return h.until is not None and h.until - h.timestamp > 1.01 * period


def _frame_features(video_id: str, info: VideoInfo, cands: list[FrameHit], period: float, orb, settings
                    ) -> list[Decoded]:
    """(time, features, thumbnail) of every frame of the decode grid in the candidates' windows,
    from :data:`CACHE` when all of them are there, else decoded (and cached). Inside a static run
    (its ends, where only its extent is asked) the features are None: the keyframe stands for it."""
    from vidsearch.media.decode import sample_frames

    step = period / DENSITY
    windows = _windows(cands, period)
    wanted = {k: not _inside_run(k * step, cands, period)  # frame of the grid -> features needed
              for w0, w1 in windows for k in range(round(w0 / step), math.ceil(min(w1, info.duration) / step - 1e-6))}
    key = lambda k: (video_id, DENSITY, period, settings.frame_size, k)  # noqa: E731
    cached = [CACHE.get(key(k)) for k in sorted(wanted)]
    if wanted and all(c is not None and (c[1] is not None or not wanted[k]) for k, c in zip(sorted(wanted), cached)):
        return [c for c in cached if c[0] is not None]
    out, seen = [], set()
    for a, b in _decode_spans(windows, JOIN_S):
        for chunk in sample_frames(info.path, info, fps=DENSITY / period, short_side=settings.frame_size,
                                   chunk=settings.decode_chunk, timeout=settings.decode_timeout,
                                   decoder="pyav", start=a, end=b):
            for fr in chunk:
                if not any(w0 - 1e-3 <= fr.timestamp < w1 for w0, w1 in windows):
                    continue  # decoded on the way from one window to the next
                k = round(fr.timestamp / step)
                if k not in wanted:
                    continue  # a frame that answers no target of its own: left out, as from the cache
                f = features(orb, _gray(fr.image, settings.frame_size)) if wanted[k] else None
                item = (fr.timestamp, f, grey_thumbnail(fr.image))
                CACHE.put(key(k), *item)
                seen.add(k)
                out.append(item)
    for k in set(wanted) - seen:  # no frame of its own (a low frame rate: one frame answers two targets)
        CACHE.put(key(k), None, ())
    return out


def same_picture(a: np.ndarray, b: np.ndarray, static_change: float) -> bool:
    """Whether two grey thumbnails show one picture: the ingest's test for static footage (at most
    ``static_change`` of the pixels changed, :func:`~vidsearch.segment.signature.changed_fraction_grey`)
    and, since that test forgives a change of the whole picture's brightness, a mean grey
    difference of at most :data:`SAME_GREY` (a fade is another picture)."""
    if a.shape != b.shape or float(np.abs(a - b).mean()) > SAME_GREY:
        return False
    return changed_fraction_grey(a, b) <= static_change


def still_extent(h: FrameHit, frames: list[Decoded], period: float, static_change: float) -> tuple[float, float]:
    """(first, last) decoded times that show the picture of the static run ``h`` stands for: the
    keyframe's frame, the frames before it back to the first that differs (not as far as the sample
    before, which the ingest gave to another run), and the frames after the run's last sample up to
    the first that differs. Where an end was not decoded: the run's first or last sample."""
    step = period / DENSITY
    first, last = h.timestamp, max(h.timestamp, h.until - period)
    own = [fr for fr in frames if abs(fr[0] - h.timestamp) <= step / 2 + 1e-3 and fr[2] is not None and len(fr[2])]
    if not own:
        return first, last
    ref = min(own, key=lambda fr: abs(fr[0] - h.timestamp))[2]
    before = (fr for fr in frames if h.timestamp - period + 1e-3 < fr[0] < h.timestamp - 1e-3)
    for t, _, thumb in sorted(before, key=lambda fr: -fr[0]):
        if thumb is None or not same_picture(thumb, ref, static_change):
            break
        first = t
    for t, _, thumb in sorted(fr for fr in frames if last - 1e-3 <= fr[0] < h.until - 1e-3):
        if thumb is None or not same_picture(thumb, ref, static_change):
            break
        last = max(last, t)
    return first, last


def refine_moment(image: np.ndarray, moment: Moment, hits: list[FrameHit], *, catalog, settings) -> Moment:
    """``moment`` with its ``timestamp`` re-checked against the source video (see the module notes);
    unchanged when another refinement is running in this process (:data:`SLOTS`)."""
    if not SLOTS.acquire(blocking=False):
        return moment
    try:
        return _refined(image, moment, hits, catalog=catalog, settings=settings)
    finally:
        SLOTS.release()


def _source(catalog, video_id: str):
    """(record, VideoInfo) of the indexed video, or None when its file is gone or changed since it
    was indexed (its times may not be the stored ones)."""
    rec = catalog.get(video_id)
    if rec is None or not rec.info:
        return None
    try:
        st = os.stat(rec.path)
        if (rec.size and st.st_size != rec.size) or (rec.mtime and abs(st.st_mtime - rec.mtime) > 1e-3):
            return None
        return rec, VideoInfo(**rec.info)
    except (OSError, TypeError):
        return None


def _prepared(moment: Moment, hits: list[FrameHit], catalog, settings):
    """(sample period, candidates, record, VideoInfo) to re-check ``moment`` against its video, or
    None when there is nothing to check or its file cannot be trusted."""
    cands = candidates(hits, moment)
    src = _source(catalog, moment.video_id) if cands else None
    return None if src is None else (1.0 / settings.sample_fps, cands, *src)


def query_features(image: np.ndarray, settings) -> Features:
    """ORB features of a query picture, as the refinement and :func:`confirm` match them."""
    import cv2

    return features(cv2.ORB_create(nfeatures=ORB_FEATURES), _gray(np.asarray(image, dtype=np.uint8), settings.frame_size))


def confirm(query: Features, moment: Moment, hits: list[FrameHit], *, catalog, settings,
            enough: int | None = None) -> int | None:
    """The most local-feature inliers between a query's features (:func:`query_features`) and the
    frames around ``moment``'s best stored frames (decoded as the refinement decodes them, or from
    :data:`CACHE`): how much exact structure the moment shares with the picture. A look-alike (the
    same room filmed by the same fixed camera, other people in it) shares only its background:
    10-26 inliers on the shared clips, where an edited copy of the picture has 12-1500 (docs/watchlists.md).
    None when it cannot be told (the file gone or changed, or undecodable now). With ``enough``, the
    frames nearest the best stored frame are matched first and the first count of ``enough`` or
    more is returned."""
    ready = _prepared(moment, hits, catalog, settings)
    if ready is None:
        return None
    period, cands, rec, info = ready
    try:
        matcher = FeatureMatcher(query=query)
        frames = _frame_features(rec.id, info, cands, period, matcher.orb, settings)
        most = 0
        for _, f, _ in sorted(frames, key=lambda fr: abs(fr[0] - cands[0].timestamp)):
            if f is None:
                continue  # inside a still run: its keyframe stands for it
            most = max(most, matcher.inliers_of(f))
            if enough is not None and most >= enough:
                break
        return most
    except Exception as exc:  # a file that cannot be decoded now
        log.warning("%s: local-feature check skipped (%s)", rec.path, exc)
        return None


def _at_still(moment: Moment, h: FrameHit, frames: list[Decoded], period: float, settings) -> Moment:
    """``moment`` with its instant in the middle of the still picture that the static run ``h``
    stands for (:func:`still_extent`: every instant of it shows the query's picture, and the middle
    is nearest to all of them), its span covering the picture."""
    first, last = still_extent(h, frames, period, settings.static_change)
    t = (first + last) / 2
    return replace(moment, timestamp=t, start=min(moment.start, first), end=max(moment.end, last, t))


def _refined(image: np.ndarray, moment: Moment, hits: list[FrameHit], *, catalog, settings) -> Moment:
    ready = _prepared(moment, hits, catalog, settings)
    if ready is None:
        return moment
    period, cands, rec, info = ready
    best: tuple[int, float, float] | None = None  # (inliers, -distance to the best hit, time)
    top = cands[0].timestamp
    own: tuple[float, int] | None = None  # (distance, inliers) of the decoded frame nearest the stored answer
    try:
        matcher = FeatureMatcher(_gray(np.asarray(image, dtype=np.uint8), settings.frame_size))
        frames = _frame_features(rec.id, info, cands, period, matcher.orb, settings)
        for t, f, _ in frames:
            if f is None:
                continue  # inside a still run: its keyframe stands for it
            key = (matcher.inliers_of(f), -abs(t - top), t)
            if best is None or key > best:
                best = key
            if own is None or -key[1] < own[0]:
                own = (-key[1], key[0])
    except Exception as exc:  # a file that cannot be decoded now (or a picture ORB cannot read) keeps the stored answer
        log.warning("%s: image refinement skipped (%s)", rec.path, exc)
        return moment
    # the stored answer is a still run's (the middle sample of the best frame's run): kept, it is
    # still placed in the middle of the picture's decoded extent
    stored = (_at_still(moment, cands[0], frames, period, settings)
              if _static(cands[0], period) and abs(moment.timestamp - best_time(cands[0], period)) < 1e-3 else moment)
    if best is None or best[0] < MIN_INLIERS:
        return stored
    t = best[2]
    if not moment.start - period / 2 - 1e-3 <= t <= moment.end + 1e-3:
        return stored  # outside the run that matches as well as the best stored frame
    if (own is not None and _static(cands[0], period) and abs(t - top) > period / DENSITY / 2 + 1e-3
            and best[0] < HOLD * own[1]):
        return stored  # a still run is where its picture is, unless a frame beside it is clearly better
    for h in cands:  # a static run's keyframe stands for its run
        if _static(h, period) and abs(h.timestamp - t) <= 1e-3 + period / DENSITY / 2:
            return _at_still(moment, h, frames, period, settings)
    return replace(moment, timestamp=t, start=min(moment.start, t), end=max(moment.end, t))
