"""Re-score text-search variants on stored frames, without ingesting again.

    .venv/bin/python bench/text_variants.py capture DIR   # ingest the real clips once into DIR (default settings)
    .venv/bin/python bench/text_variants.py score DIR     # the current code on DIR's frames, by query half
    .venv/bin/python bench/text_variants.py score DIR --set COLOUR_WEIGHT=0.5   # a constant of search/text.py changed

``capture`` ingests every clip of ``../shared/testvideos`` into ``DIR/data`` with the default
settings and also keeps, per stored keyframe, the classifier's 1000 ImageNet logits
(``DIR/frames.npz``: logits, video ids, timestamps), so that variants of the concept mix (top-k,
temperature, the concept table) can be scored on exactly these frames. ``score`` opens ``DIR/data``
and runs ``bench/text_queries.tsv`` through ``search_text`` as ``bench/text.py`` does; with
``--remix`` the concept vectors are recomputed from the stored logits with the current
:class:`~vidsearch.models.concepts.ConceptSpace` (table and mix) and searched exactly (a numpy
stand-in for the store's concept search; on-screen text and shots still come from the store).

Video-level figures are given for the odd- and even-numbered queries (1-based position in the
file; choose on odd, confirm on even), span figures for half A (odd positions among the 22 span
queries) and half B (even), as in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, real_videos  # noqa: E402

sys.path.insert(0, str(REPO))
from text import iou, load_queries, score_rankings, video_ranking  # noqa: E402


def _lib(folder: Path):
    import os

    from vidsearch.config import Settings
    from vidsearch.library import Library

    return Library(Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": str(folder / "data")}))


def capture(folder: Path, videos: str | None) -> None:
    if (folder / "data").exists():
        sys.exit(f"{folder / 'data'} exists: capture into a new folder (clips already indexed would be skipped)")
    folder.mkdir(parents=True, exist_ok=True)
    lib = _lib(folder)
    cs = lib.encoders.concepts
    seen: dict[bytes, np.ndarray] = {}
    real_frames = cs.frames

    def frames(logits, detections=None):
        fc = real_frames(logits, detections)
        for v, lg in zip(fc.vectors, np.asarray(logits, np.float32)):
            seen[hashlib.sha1(np.asarray(v, np.float32).tobytes()).digest()] = lg
        return fc

    cs.frames = frames
    rows = {"logits": [], "video": [], "t": []}
    store = lib.store
    real_upsert = store.upsert_frames

    def upsert_frames(video_id, keyframes, **kw):
        for kf in keyframes:
            lg = seen.get(hashlib.sha1(np.asarray(kf.concept, np.float32).tobytes()).digest())
            if lg is None:
                raise RuntimeError(f"no logits for a keyframe of {video_id} at {kf.timestamp}")
            rows["logits"].append(lg)
            rows["video"].append(video_id)
            rows["t"].append(round(float(kf.timestamp), 3))
        return real_upsert(video_id, keyframes, **kw)

    store.upsert_frames = upsert_frames
    files = real_videos(videos, required=True)
    for r in lib.ingest([str(f) for f in files]):
        print(r.status, Path(r.path).name, flush=True)
    np.savez_compressed(folder / "frames.npz", logits=np.stack(rows["logits"]).astype(np.float16),
                        video=np.array(rows["video"]), t=np.array(rows["t"], np.float64))
    lib.close()
    print(f"{len(rows['t'])} keyframes -> {folder}")


class RemixStore:
    """The library's store, except that concept searches over frames run on concept vectors
    recomputed from the captured logits with the current ConceptSpace."""

    def __init__(self, store, folder: Path, concepts):
        from vidsearch.index.store import CONCEPT

        self._store, self._concept = store, CONCEPT
        d = np.load(folder / "frames.npz")
        self.video, self.t = d["video"], d["t"]
        fc = concepts.frames(d["logits"].astype(np.float32))
        self.vectors = fc.vectors
        self.payload = [{"concepts": [[j, round(w, 4)] for j, w in top[:5]]} for top in fc.top]
        self._meta: dict[tuple[str, float], tuple[int, float | None]] = {}
        for vid in set(self.video.tolist()):
            for h in store.search_frames(CONCEPT, self.vectors[0], 100_000, video_id=vid):
                self._meta[(h.video_id, round(h.timestamp, 3))] = (h.segment_index, h.until)

    def __getattr__(self, name):
        return getattr(self._store, name)

    def search_frames(self, vector_name, vector, limit, video_id=None, start=None, end=None, **kw):
        from vidsearch.records import FrameHit

        if vector_name != self._concept:
            return self._store.search_frames(vector_name, vector, limit, video_id, start, end, **kw)
        scores = self.vectors @ np.asarray(vector, np.float32)
        ok = np.ones(len(scores), bool)
        if video_id is not None:
            ok &= self.video == video_id
        if start is not None:
            ok &= self.t >= start
        if end is not None:
            ok &= self.t <= end
        idx = np.flatnonzero(ok)
        idx = idx[np.argsort(-scores[idx], kind="stable")][:limit]
        out = []
        for i in idx:
            seg, until = self._meta[(str(self.video[i]), round(float(self.t[i]), 3))]
            out.append(FrameHit(str(self.video[i]), float(self.t[i]), seg, min(1.0, float(scores[i])), until,
                                dict(self.payload[i])))
        return out


def score(folder: Path, remix: bool, label: str, out: Path | None) -> dict:
    from vidsearch.search import text as text_search

    lib = _lib(folder)
    names = {r.id: Path(r.path).name for r in lib.videos() if r.status == "indexed"}
    store = RemixStore(lib.store, folder, lib.encoders.concepts) if remix else lib.store
    queries = load_queries()
    orders, spans, ious = [], [], {}
    for q in queries:
        moments = text_search.search_text(q["query"], encoders=lib.encoders, store=store, catalog=lib.catalog,
                                          settings=lib.settings, limit=100)
        orders.append(video_ranking(moments, names))
        if q["spans"]:
            best = max([iou((m.start, m.end), (a, b)) for m in moments[:5] for (n, a, b) in q["spans"]
                        if names.get(m.video_id) == n] or [0.0])
            spans.append(best >= 0.3)
            ious[q["query"]] = round(best, 2)
    n_videos = len(set(names.values()))
    res = {"label": label}
    for half, sel in (("all", lambda i: True), ("odd", lambda i: i % 2 == 0), ("even", lambda i: i % 2 == 1)):
        idx = [i for i in range(len(queries)) if sel(i)]
        s = score_rankings([queries[i] for i in idx], [orders[i] for i in idx], n_videos)
        res[half] = {k: s[k] for k in ("r1", "r5", "mrr")}
        if half == "all":
            res["ranks"] = {q["query"]: r for q, r in zip(queries, s["ranks"])}
    res["spans"] = {"A": sum(spans[0::2]), "B": sum(spans[1::2]), "all": sum(spans), "n": len(spans)}
    v = list(ious.values())
    res["mean_iou"] = {"A": round(float(np.mean(v[0::2])), 3), "B": round(float(np.mean(v[1::2])), 3)}
    res["span_iou"] = ious
    lib.close()
    a, o, e, sp = res["all"], res["odd"], res["even"], res["spans"]
    print(f"{label:30s} all R@1 {a['r1']:.2f} R@5 {a['r5']:.2f} MRR {a['mrr']:.3f} | "
          f"odd {o['r1']:.2f}/{o['r5']:.2f}/{o['mrr']:.3f} | even {e['r1']:.2f}/{e['r5']:.2f}/{e['mrr']:.3f} | "
          f"spans A {sp['A']} B {sp['B']} all {sp['all']}/{sp['n']} (mean IoU A {res['mean_iou']['A']:.2f} "
          f"B {res['mean_iou']['B']:.2f})", flush=True)
    if out is not None:
        out.write_text(json.dumps(res, indent=1))
    return res


def override(item: str) -> None:
    """``NAME=VALUE``: set an existing numeric constant of :mod:`vidsearch.search.text`."""
    from vidsearch.search import text as text_search

    name, _, value = item.partition("=")
    old = getattr(text_search, name, None)
    if not name.isupper() or not isinstance(old, (int, float)) or isinstance(old, bool):
        sys.exit(f"--set {item}: {name!r} is not a numeric constant of vidsearch/search/text.py")
    setattr(text_search, name, type(old)(float(value)) if isinstance(old, int) else float(value))
    print(f"{name} = {getattr(text_search, name)} (was {old})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("capture", "score"))
    ap.add_argument("folder", type=Path)
    ap.add_argument("--videos", help="folder of real clips (default ../shared/testvideos)")
    ap.add_argument("--remix", action="store_true", help="recompute concept vectors from the captured logits")
    ap.add_argument("--label", default="current code")
    ap.add_argument("--json", type=Path, help="write the per-query ranks and span IoUs here")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="score with this constant of vidsearch/search/text.py changed (KEEP, PER_VIDEO, SNAP_MAX, "
                         "W_CONCEPT, COLOUR_WEIGHT, ...); repeatable")
    args = ap.parse_args()
    for item in args.set:
        override(item)
    if args.what == "capture":
        capture(args.folder, args.videos)
    else:
        score(args.folder, args.remix, args.label, args.json)


if __name__ == "__main__":
    main()
