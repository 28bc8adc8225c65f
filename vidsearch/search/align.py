"""Temporal alignment: where, in time, does a query share footage with a reference video?

Input: the similarity matrix of a query's frame descriptors (rows) against a reference video's
stored keyframe descriptors (columns), and the times each row and column stands for. Output: the
copied spans, in both videos, each with a score. Pure numpy.

The method is a temporal network (Tan et al., "Scalable detection of partial near-duplicate
videos by visual-temporal consistency", 2009; the ``TN`` localiser of VCSL and of the VSC 2022
baseline), solved by dynamic programming:

* **nodes**: for every query row, its ``top_k`` reference columns with similarity >= ``min_sim``;
* **edges**: from node (i, j) to a later node (i', j') when the query advanced by at most
  ``max_gap`` seconds, the reference did not go back (j' >= j), and the step is consistent with a
  playback-speed ratio ref/query in ``speeds`` (0.75x to 1.33x by default: the 0.8x-1.25x a copy
  may be sped up or slowed down by, with a margin) both from (i, j) and from the first node of
  the best path to (i, j) (local slack alone would let a path drift to any speed);
* the **longest path** (largest sum of similarities) is one alignment; its nodes, and every node
  in the box its spans cover, are removed and the next longest is found, up to ``max_paths``.

Sampling is the subtle part. The index keeps one keyframe per run of near-identical samples (static
footage), so a stored keyframe at ``t`` stands for ``[t, until)``; a query is sampled every
``period`` seconds. Each row and column therefore stands for an *interval* of possible true times,
``[t - period/2, until - period/2]``, and an edge is allowed when some pair of times inside the two
intervals has a speed ratio inside ``speeds``: the rectangle of possible (query step, reference
step) pairs meets the cone ``smin * dq <= dr <= smax * dq``. A query sampled 4 times per second
against a 1-per-second index then naturally maps several query rows to one reference keyframe, a
long static run of the reference takes any number of query rows, and a frame-rate change changes
nothing (times, not frame numbers, are compared).

The located spans: the path's ends are trimmed to its clearly-copied core (:func:`_trim`), the
line ``r = offset + speed * q`` that most of the path agrees with is found (:func:`_fit`; nodes off
it are dropped), and the spans are that line between the first and the last remaining node, kept
inside what the samples of both videos allow (a 1-s clip stored as two keyframes cannot stand for
4 s of the other video). The score is the mean similarity of the remaining nodes; the dedup
decision is one threshold on it (:mod:`vidsearch.search.dedup`, docs/dedup.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Track:
    """Times of a sequence of samples: ``times[k]`` stands for ``[times[k], until[k])``.

    ``period`` is the sampling period (a regular sample stands for one period)."""

    times: np.ndarray
    until: np.ndarray
    period: float

    @classmethod
    def regular(cls, times, period: float, end: float | None = None) -> "Track":
        """Samples every ``period`` seconds (each one period long, the last clipped to ``end``)."""
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        until = t + period
        if end is not None and t.size:
            until[-1] = max(min(until[-1], end), t[-1] + 1e-3)
        return cls(t, until, float(period))

    @classmethod
    def keyframes(cls, times, period: float, end: float | None = None) -> "Track":
        """Stored keyframes: each stands for the samples up to the next keyframe (static runs);
        the last one up to ``end`` (the video's duration) or one period."""
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        until = np.empty_like(t)
        if t.size:
            until[:-1] = t[1:]
            until[-1] = t[-1] + period if end is None else max(end, t[-1] + 1e-3)
        return cls(t, until, float(period))

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def lo(self) -> np.ndarray:
        """Earliest true time each sample may show."""
        return self.times - self.period / 2

    @property
    def hi(self) -> np.ndarray:
        """Latest true time each sample may show."""
        return np.maximum(self.until - self.period / 2, self.times)


@dataclass(frozen=True)
class AlignParams:
    min_sim: float = 0.3  # cells below this are not nodes
    top_k: int = 5  # nodes per query row
    max_gap: float = 3.0  # seconds of query time a path may skip between two nodes
    speeds: tuple[float, float] = (0.75, 1.33)  # allowed ref/query playback-speed ratio
    max_paths: int = 8  # alignments found per matrix
    min_nodes: int = 2  # shorter paths are dropped, except one still picture held on both sides (see align)
    min_score: float = 0.0  # alignments with a lower score are dropped
    trim: float = 0.6  # path ends below this fraction of the path's upper-quartile similarity are cut off


@dataclass
class Alignment:
    """One copied span pair, times in seconds."""

    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    score: float  # mean copy-descriptor similarity along the (trimmed) path
    speed: float  # fitted ref/query speed ratio
    path: list[tuple[int, int]] = field(default_factory=list)  # (row, column) per node, in order
    sims: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def nodes(self) -> int:
        return len(self.path)

    @property
    def query_duration(self) -> float:
        return self.query_end - self.query_start


def _nodes(sim: np.ndarray, top_k: int, min_sim: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, similarity) of the graph's nodes, sorted by row then column."""
    q, r = sim.shape
    k = min(top_k, r)
    s = np.where(np.isfinite(sim), sim, -np.inf)
    if k < r:
        cols = np.argpartition(-s, k - 1, axis=1)[:, :k]
    else:
        cols = np.broadcast_to(np.arange(r), (q, r))
    rows = np.repeat(np.arange(q), k)
    cols = cols.reshape(-1)
    vals = s[rows, cols]
    keep = vals >= min_sim
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], vals[order].astype(np.float64)


def _consistent(i, j, iu, ju, qlo, qhi, rlo, rhi, smin, smax) -> np.ndarray:
    """Can (row i, column j) follow each (iu, ju) at a speed ratio in [smin, smax]? The rectangle of
    possible (query step, reference step) pairs must meet the cone smin*dq <= dr <= smax*dq."""
    x1 = np.maximum(qlo[i] - qhi[iu], 0.0)
    x2 = qhi[i] - qlo[iu]
    y1 = rlo[j] - rhi[ju]
    y2 = rhi[j] - rlo[ju]
    return (x2 > 0) & (y2 >= smin * x1) & (y1 <= smax * x2)


def _longest_path(rows, cols, w, alive, query: Track, ref: Track, p: AlignParams) -> tuple[float, list[int]]:
    """Best path (node indices) over the alive nodes; nodes are sorted by row."""
    n = rows.shape[0]
    best = np.full(n, -np.inf)
    prev = np.full(n, -1, dtype=np.int64)
    anchor = np.arange(n)  # first node of the best path to each node
    qlo, qhi, rlo, rhi = query.lo, query.hi, ref.lo, ref.hi
    qt = query.times
    smin, smax = p.speeds
    node_qt = qt[rows]
    start = 0  # first node whose row may precede the current one
    for v in range(n):
        if not alive[v]:
            continue
        i, j = rows[v], cols[v]
        while node_qt[start] < qt[i] - p.max_gap - 1e-9:
            start += 1
        score = w[v]
        # candidates: alive nodes in earlier rows within max_gap, not later in the reference
        u = np.arange(start, v)
        if u.size:
            u = u[alive[u] & (rows[u] < i) & (cols[u] <= j) & np.isfinite(best[u])]
        if u.size:
            # a step consistent with the speed range, both from the previous node and from the
            # path's first node (local slack alone would let a path drift to any speed)
            ok = _consistent(i, j, rows[u], cols[u], qlo, qhi, rlo, rhi, smin, smax)
            a = anchor[u]
            ok &= _consistent(i, j, rows[a], cols[a], qlo, qhi, rlo, rhi, smin, smax) | (a == u)
            if ok.any():
                cand = u[ok]
                k = cand[np.argmax(best[cand])]
                score += best[k]
                prev[v] = k
                anchor[v] = anchor[k]
        best[v] = score
    if not np.isfinite(best).any():
        return -np.inf, []
    end = int(np.argmax(best))
    path = [end]
    while prev[path[-1]] >= 0:
        path.append(int(prev[path[-1]]))
    return float(best[end]), path[::-1]


def _still(nodes: np.ndarray, rows: np.ndarray, cols: np.ndarray, query: Track, ref: Track) -> bool:
    """A single node that is one picture held for at least two sampling periods in both videos
    (a static run on both sides: a title card, a still shot): one node, but not one instant."""
    if len(nodes) != 1:
        return False
    i, j = rows[nodes[0]], cols[nodes[0]]
    return (query.until[i] - query.times[i] >= 2 * query.period - 1e-6
            and ref.until[j] - ref.times[j] >= 2 * ref.period - 1e-6)


def _trim(path: list[int], w: np.ndarray, ratio: float) -> list[int]:
    """The part of a path that is clearly the copy: the contiguous run of nodes with the largest
    total of (similarity - floor), floor = ``ratio`` x the path's upper-quartile similarity.
    Footage that merely looks like the reference (e.g. the never-indexed part of a partial copy)
    can extend a path at a lower similarity than the copy; this cuts it off."""
    if len(path) < 3 or ratio <= 0:
        return path
    gain = w[path] - ratio * float(np.quantile(w[path], 0.75))
    best, best_span, run, start = -np.inf, (0, len(path)), 0.0, 0
    for k, g in enumerate(gain):  # Kadane: maximum-sum contiguous run
        if run <= 0:
            run, start = 0.0, k
        run += g
        if run > best:
            best, best_span = run, (start, k + 1)
    return path[best_span[0]: best_span[1]]


def _fit(qlo, qhi, rlo, rhi, weight, speeds: tuple[float, float], steps: int = 23) -> tuple[float, float, np.ndarray]:
    """The line r = offset + speed * q that the most path weight agrees with: node k agrees when
    some q in [qlo_k, qhi_k] maps into [rlo_k, rhi_k], i.e. offset lies in
    [rlo_k - speed*qhi_k, rhi_k - speed*qlo_k]. A query sample is a frame at an exact time (an
    interval only where it stands for a static run); the reference keyframe it matched is the
    nearest one to the true time, so its interval is +-half a period (plus its static run; the
    caller narrows it by a tenth of a period, so that a neighbour keyframe touching the true
    offset only at its interval's edge does not count).
    For each speed of a grid over ``speeds`` (1.0
    included), a sweep over those intervals finds the best-covered offset (the middle of the best
    stretch). Of the speeds within one node's weight of the best coverage, the one nearest 1 wins:
    a speed change must be supported by more than a node at the end of a short path (1-s samples
    on both sides leave a few nodes free to sit a little off). Returns (offset, speed, inliers)."""
    grid = np.unique(np.append(np.linspace(speeds[0], speeds[1], steps), 1.0))
    fits = []  # (covered weight, speed, offset)
    for sp in grid:
        lo = rlo - sp * qhi
        hi = rhi - sp * qlo
        points = np.concatenate([lo, hi])
        kinds = np.concatenate([np.ones_like(lo), -np.ones_like(hi)])  # +1 opens, -1 closes
        order = np.lexsort((-kinds, points))  # at equal offsets, open before close
        cover = np.cumsum(np.concatenate([weight, -weight])[order])
        k = int(np.argmax(cover))
        if k + 1 < len(order):
            offset = 0.5 * (points[order[k]] + points[order[k + 1]])
        else:
            offset = float(points[order[k]])
        fits.append((float(cover[k]), float(sp), float(offset)))
    top = max(f[0] for f in fits)
    _, speed, offset = min((f for f in fits if f[0] >= top - float(weight.max()) - 1e-9),
                           key=lambda f: (abs(f[1] - 1.0), -f[0]))
    inliers = (rlo - speed * qhi <= offset + 1e-9) & (offset <= rhi - speed * qlo + 1e-9)
    return offset, speed, inliers


def suppress(alignments: list[Alignment], overlap: float = 0.5, minor: float = 0.5) -> list[Alignment]:
    """One location per part of the query, and no crumbs. Alignments (of one query against one
    reference) are taken by total similarity (the path objective, so a long true path beats a
    short lucky one). Dropped: one whose query span lies more than ``overlap`` inside a kept one's
    (where a reference shows the same picture at several times, as a static camera does, the
    best-supported location stays), and one shorter than ``minor`` x the best one (a second or two
    of a static scene that also matches some other moment of the same video)."""
    kept: list[Alignment] = []
    for a in sorted(alignments, key=lambda a: -float(a.sims.sum())):
        length = max(a.query_duration, 1e-9)
        if kept and length < minor * kept[0].query_duration:
            continue
        if all(max(0.0, min(a.query_end, k.query_end) - max(a.query_start, k.query_start)) <= overlap * length
               for k in kept):
            kept.append(a)
    return kept


def align(sim: np.ndarray, query: Track, ref: Track, params: AlignParams | None = None) -> list[Alignment]:
    """Alignments of ``query`` (rows of ``sim``) in ``ref`` (columns), best first.

    Cells that must not match (e.g. a video against itself near the diagonal) may be NaN or -inf.
    """
    p = params or AlignParams()
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2 or sim.shape != (len(query), len(ref)):
        raise ValueError(f"similarity matrix {sim.shape} does not match "
                         f"{len(query)} query x {len(ref)} reference samples")
    if sim.size == 0:
        return []
    rows, cols, w = _nodes(sim, p.top_k, p.min_sim)
    alive = np.ones(rows.shape[0], dtype=bool)
    out: list[Alignment] = []
    while len(out) < p.max_paths and alive.any():
        total, path = _longest_path(rows, cols, w, alive, query, ref, p)
        if not path:
            break
        alive[path] = False
        path = np.asarray(_trim(path, w, p.trim))
        # the copy's line through the path; nodes off it (a neighbouring look-alike frame) go
        qi = rows[path]
        offset, speed, inl = _fit(query.times[qi], np.maximum(query.until[qi] - query.period, query.times[qi]),
                                  ref.lo[cols[path]] + 0.1 * ref.period, ref.hi[cols[path]] - 0.1 * ref.period,
                                  w[path], p.speeds)
        kept = path[inl]
        pi, pj = rows[kept], cols[kept]
        # remove the path and everything in the box it covers (near-duplicate paths beside it)
        box = ((query.times[rows] >= query.times[rows[path[0]]] - 1e-9)
               & (query.times[rows] < query.until[rows[path[-1]]])
               & (ref.times[cols] >= ref.times[cols[path].min()]) & (ref.times[cols] <= ref.times[cols[path].max()]))
        alive[box] = False
        if len(kept) < p.min_nodes and not _still(kept, rows, cols, query, ref):
            continue
        sims = w[kept]
        score = float(sims.mean())
        if score < p.min_score:
            continue
        # spans: the line between the first and last kept nodes, inside what both videos' samples allow
        r_lo, r_hi = float(ref.lo[pj[0]]), float(ref.until[pj[-1]])
        q_start = max(float(query.times[pi[0]]), (r_lo - offset) / speed)
        q_end = min(float(query.until[pi[-1]]), (r_hi - offset) / speed)
        if q_end <= q_start:
            q_start, q_end = float(query.times[pi[0]]), float(query.until[pi[-1]])
        r_start = max(0.0, offset + speed * q_start)
        r_end = max(r_start, offset + speed * q_end)
        out.append(Alignment(
            query_start=q_start, query_end=q_end, ref_start=r_start, ref_end=r_end,
            score=score, speed=speed, path=list(zip(pi.tolist(), pj.tolist())), sims=sims.astype(np.float32),
        ))
    out.sort(key=lambda a: (-float(a.sims.sum()), a.query_start))
    return out
