"""Words taught by example, and thresholds learned from marks.

A watchlist defined by example moments learns a small model on the frames the index already holds
(no decoding): the ``copy``, ``semantic`` and ``concept`` vectors of the frames inside the positive
moments, against the frames inside the negatives and a sample of every other indexed frame
(*background*). Two models (``METHODS``), chosen by measurement (docs/watchlists.md):

``probe``
    logistic regression (numpy, full-batch gradient descent with L2, classes weighted equally) on
    the three vectors side by side; the score is its probability, the threshold 0.5.
``prototype``
    the mean of the positive frames per vector; the score is the mean cosine to those means; the
    threshold halfway between the positives' median score and the background's 99th percentile.

Fitting takes tens of milliseconds. The watchlist's name becomes a word of text search
(:func:`taught_words`, passed to :func:`vidsearch.search.text.search_text` by the library).

:func:`fit_threshold` re-fits a threshold from a user's right/wrong marks: the score that
maximises F1 over the marks (ties: the higher one, which keeps precision).
"""
from __future__ import annotations

import numpy as np

FEATURES = ("copy", "semantic", "concept")
METHODS = ("probe", "prototype")
BACKGROUND = 3000  # background frames sampled for a fit
STEPS, RATE, L2 = 300, 0.5, 1e-3


def _stack(vectors: dict[str, np.ndarray], names) -> np.ndarray:
    parts = [np.asarray(vectors[n], np.float32) for n in names]
    return np.concatenate(parts, axis=1) / np.sqrt(len(parts))


def fit(pos: dict[str, np.ndarray], neg: dict[str, np.ndarray], method: str = "probe") -> dict[str, np.ndarray]:
    """A model from positive and negative frames' vectors (``{name: (N, dim)}``, the same names)."""
    names = [n for n in FEATURES if n in pos and len(pos[n])]
    if not names:
        raise ValueError("examples: none of the example moments has stored frames (are their videos indexed?)")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    model: dict[str, np.ndarray] = {"method": np.array([method])}
    if method == "prototype":
        for n in names:
            p = pos[n].mean(axis=0)
            model[f"p_{n}"] = (p / max(float(np.linalg.norm(p)), 1e-12)).astype(np.float32)
        return model
    xp, xn = _stack(pos, names), _stack(neg, names) if neg and all(n in neg for n in names) and len(neg[names[0]]) else None
    x = xp if xn is None else np.concatenate([xp, xn])
    y = np.concatenate([np.ones(len(xp)), np.zeros(0 if xn is None else len(xn))]).astype(np.float32)
    wt = np.where(y > 0, 0.5 / max(1, len(xp)), 0.5 / max(1, len(y) - len(xp))).astype(np.float32)
    w = np.zeros(x.shape[1], np.float32)
    b = 0.0
    for _ in range(STEPS):
        z = x @ w + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        g = (p - y) * wt
        w -= RATE * (x.T @ g + L2 * w)
        b -= RATE * float(g.sum())
    off = 0
    for n in names:
        d = pos[n].shape[1]
        model[f"w_{n}"] = (w[off: off + d] / np.sqrt(len(names))).astype(np.float32)
        off += d
    model["bias"] = np.array([b], np.float32)
    return model


def score_frames(model: dict[str, np.ndarray], vectors: dict[str, np.ndarray]) -> np.ndarray:
    """Scores of frames (``{name: (N, dim)}``) under a fitted model: a probability (probe) or a
    mean cosine (prototype)."""
    method = str(model["method"][0])
    if method == "prototype":
        names = [n for n in FEATURES if f"p_{n}" in model and n in vectors]
        if not names:
            return np.zeros(0, np.float32)
        return np.mean([np.asarray(vectors[n], np.float32) @ model[f"p_{n}"] for n in names], axis=0)
    names = [n for n in FEATURES if f"w_{n}" in model and n in vectors]  # a vector the video lacks counts 0
    if not names:
        return np.zeros(len(next(iter(vectors.values()), [])), np.float32)
    z = sum(np.asarray(vectors[n], np.float32) @ model[f"w_{n}"] for n in names) + float(model["bias"][0])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def default_threshold(model, pos: dict[str, np.ndarray], background: dict[str, np.ndarray]) -> float:
    if str(model["method"][0]) == "probe":
        return 0.5
    sp = score_frames(model, pos)
    sb = score_frames(model, background) if background and len(next(iter(background.values()))) else np.zeros(1)
    return float((np.median(sp) + np.percentile(sb, 99)) / 2)


def in_spans(hits, spans) -> np.ndarray:
    """Which of a video's frames lie in any of ``spans`` ``[(start, end)]``."""
    t = np.array([h.timestamp for h in hits])
    mask = np.zeros(len(t), bool)
    for a, b in spans:
        mask |= (t >= a - 1e-6) & (t < b)
    return mask


def gather(store, catalog, examples: list[dict], negatives: list[dict], *, seed: int = 0):
    """``(pos, neg, background)``: the stored frame vectors of the example moments, of the negative
    moments plus a sample of every other indexed frame, and of that sample alone."""
    names = [n for n in FEATURES if n in store.dims]
    rng = np.random.default_rng(seed)
    by_video: dict[str, dict[str, list]] = {}
    for kind, moments in (("pos", examples), ("neg", negatives)):
        for m in moments:
            by_video.setdefault(str(m["video_id"]), {"pos": [], "neg": []})[kind].append((float(m["start"]), float(m["end"])))
    pos = {n: [] for n in names}
    neg = {n: [] for n in names}
    bg = {n: [] for n in names}
    videos = [r.id for r in catalog.list("indexed")]
    missing: set[str] = set()
    for vid in videos:
        hits, vecs = store.video_vectors(vid, names)
        if not hits:
            continue
        spans = by_video.get(vid, {"pos": [], "neg": []})
        p, q = in_spans(hits, spans["pos"]), in_spans(hits, spans["neg"])
        rest = np.flatnonzero(~p & ~q)
        share = max(1, BACKGROUND // max(1, len(videos)))
        rest = rng.choice(rest, size=min(len(rest), share), replace=False) if len(rest) else rest
        missing.update(n for n in names if n not in vecs)
        for n in names:
            if n in vecs:
                pos[n].append(vecs[n][p])
                neg[n].append(vecs[n][q])
                neg[n].append(vecs[n][rest])
                bg[n].append(vecs[n][rest])
    names = [n for n in names if n not in missing]  # only vectors every indexed video has
    if not names:
        raise ValueError("examples: the indexed videos share no stored vector to learn from")
    cat = {k: {n: (np.concatenate(v[n]) if v[n] else np.zeros((0, store.dims[n]), np.float32)) for n in names}
           for k, v in (("pos", pos), ("neg", neg), ("bg", bg))}
    if not len(cat["pos"][names[0]]):
        raise ValueError("examples: no stored frame lies inside the example moments (are their videos indexed?)")
    return cat["pos"], cat["neg"], cat["bg"]


def fit_threshold(marks: list[dict], current: float) -> float:
    """The threshold that maximises F1 over the marks (``score``, ``right``); ``current`` without a
    right mark and a wrong one to tell apart."""
    rights = [m["score"] for m in marks if m["right"]]
    wrongs = [m["score"] for m in marks if not m["right"]]
    if not rights:
        return max([current] + [s + 1e-4 for s in wrongs])
    best, best_f1 = current, -1.0
    for t in sorted({float(m["score"]) for m in marks}, reverse=True):
        tp = sum(1 for s in rights if s >= t)
        fp = sum(1 for s in wrongs if s >= t)
        fn = len(rights) - tp
        f1 = 2 * tp / max(1, 2 * tp + fp + fn)
        if f1 > best_f1 + 1e-9:
            best, best_f1 = t, f1
    return best


def precision(marks: list[dict], threshold: float) -> float | None:
    """Share of the marked moments at or above the threshold that were marked right (None: none)."""
    above = [m for m in marks if m["score"] >= threshold]
    return None if not above else sum(1 for m in above if m["right"]) / len(above)
