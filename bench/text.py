"""Text search benchmark: quality on the real clips, ingest cost of each text signal, latency at scale.

    .venv/bin/python bench/text.py            # full run: both detector variants, 100k-frame latency
    .venv/bin/python bench/text.py --quick    # default settings only, 20k-frame latency

1. Ingest every real clip (``../shared/testvideos``) into a fresh data folder with the default
   settings (concept vectors + OCR), and, unless ``--quick``, again with the detectors on
   (``VIDSEARCH_DETECTORS=person,face,colour``). Stage seconds come from the ingest results.
2. Run the text-query list (``bench/text_queries.tsv``, written from MANIFEST.tsv's descriptions)
   through ``Library.search_text`` and report video-level R@1, R@5 and MRR (rank of the first
   moment of an expected file among the distinct videos, in moment order), per query kind, and for
   multi-scene files the best span IoU among that file's moments in the top 5.
   Baselines in the same run, on the same stored frames: (a) each frame described by its top-1
   ImageNet class only (MiniLM embedding of that class name vs the query); (b) the concept
   channel alone (no OCR); (c) a random ranking (mean over 500 shuffles).
3. Pad the store with synthetic frames up to ``--frames`` (random mixtures of 20 class
   embeddings, like real concept vectors; 5% carry on-screen text) registered as indexed videos,
   and time ``search_text`` (model loaded, after a warm-up): p50 and p95 over the query list.

``VIDSEARCH_*`` settings in the environment (not the data folder) apply to every variant, e.g.
``VIDSEARCH_OCR_SIZE=0 .venv/bin/python bench/text.py --quick`` measures OCR on the 224-px frames;
they are listed in the output (``environment``). The latency test also runs with on-screen words
matched exactly (no one-edit variants asked of the store), between two runs of the default: the
baseline of the fuzzy word matching.

Writes ``bench/out/text[.quick].json``; the figures go to docs/benchmarks.md ("Text search").
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, percentile, real_videos, write_json  # noqa: E402

sys.path.insert(0, str(REPO))
QUERIES = Path(__file__).resolve().parent / "text_queries.tsv"


EXACT_WORDS_ONLY = {"FUZZY_MIN": 10 ** 6}  # on-screen words matched exactly: the baseline of one-edit matching


@contextlib.contextmanager
def search_constants(**values):
    """Constants of :mod:`vidsearch.search.text` set to ``values`` inside the block, restored after."""
    from vidsearch.search import text as text_search

    old = {name: getattr(text_search, name) for name in values}
    try:
        for name, value in values.items():
            setattr(text_search, name, value)
        yield
    finally:
        for name, value in old.items():
            setattr(text_search, name, value)


def load_queries(path: Path = QUERIES) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t") + [""] * 4
        spans = []
        for part in filter(None, cols[3].split(";")):
            name, _, rng = part.rpartition("@")
            a, b = rng.split("-")
            spans.append((name, float(a), float(b)))
        out.append({"query": cols[0], "kind": cols[1], "expected": cols[2].split(","), "spans": spans})
    return out


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def video_ranking(moments, names: dict[str, str]) -> list[str]:
    order: list[str] = []
    for m in moments:
        name = names.get(m.video_id)
        if name is not None and name not in order:
            order.append(name)
    return order


def score_rankings(queries, rankings: list[list[str]], n_videos: int) -> dict:
    per_kind: dict[str, list[int]] = {}
    ranks = []
    for q, order in zip(queries, rankings):
        r = next((i + 1 for i, v in enumerate(order) if v in q["expected"]), n_videos + 1)
        ranks.append(r)
        per_kind.setdefault(q["kind"], []).append(r)
    n = len(ranks)
    return {
        "r1": round(sum(r == 1 for r in ranks) / n, 3),
        "r5": round(sum(r <= 5 for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks) / n, 3),
        "by_kind": {k: {"n": len(v), "r5": round(sum(r <= 5 for r in v) / len(v), 2),
                        "r1": round(sum(r == 1 for r in v) / len(v), 2)} for k, v in sorted(per_kind.items())},
        "ranks": ranks,
    }


def ingest(lib, files) -> dict:
    t0 = time.perf_counter()
    child0 = _children_cpu()  # tesseract as a program (VIDSEARCH_OCR_IN_PROCESS=0); in process it is in cpu_s
    cpu0 = time.process_time() + child0
    stages: dict[str, float] = {}
    duration = 0.0
    failed = []
    for r in lib.ingest([str(f) for f in files]):
        if r.status != "indexed":
            failed.append(r.path)
            continue
        duration += r.duration
        for k, v in r.times.items():
            if k != "total":  # the file's wall time, not a stage
                stages[k] = stages.get(k, 0.0) + v
    wall = time.perf_counter() - t0
    child = _children_cpu() - child0
    cpu = time.process_time() + child + child0 - cpu0
    total = sum(stages.values())
    return {"video_s": round(duration, 1), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "child_processes_cpu_s": round(child, 1), "x_realtime_per_cpu_s": round(duration / cpu, 1) if cpu else None,
            "x_realtime_2_cores_if_cpu_bound": round(2 * duration / cpu, 1) if cpu else None,
            "stages_s": {k: round(v, 2) for k, v in stages.items()},
            "x_realtime_stages": round(duration / total, 2) if total else None,
            "x_realtime_stages_without_text": round(duration / (total - sum(stages.get(k, 0) for k in ("ocr", "concept", "detect"))), 2),
            "ocr_s_per_video_s": round(stages.get("ocr", 0.0) / duration, 4) if duration else None,
            "concept_s_per_video_s": round(stages.get("concept", 0.0) / duration, 4) if duration else None,
            "detect_s_per_video_s": round(stages.get("detect", 0.0) / duration, 4) if duration else None,
            "failed": failed}


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def evaluate(lib, queries, names: dict[str, str]) -> dict:
    """Quality of search_text, and of the baselines, on the clips in ``lib``."""
    n_videos = len(set(names.values()))
    full, spans_ok, details = [], [], []
    for q in queries:
        moments = lib.search_text(q["query"], limit=100)
        order = video_ranking(moments, names)
        full.append(order)
        best_iou = None
        if q["spans"]:
            top5 = moments[:5]
            best_iou = max([iou((m.start, m.end), (a, b)) for m in top5 for (name, a, b) in q["spans"]
                            if names.get(m.video_id) == name] or [0.0])
            spans_ok.append(best_iou >= 0.3)
        first = next((m for m in moments if names.get(m.video_id) in q["expected"]), None)
        details.append({"query": q["query"], "kind": q["kind"], "top": order[:3],
                        "why": first.extra.get("why") if first else None,
                        "span": [round(first.start, 2), round(first.end, 2)] if first else None,
                        "best_span_iou_top5": None if best_iou is None else round(best_iou, 2)})
    result = score_rankings(queries, full, n_videos)
    for d, r in zip(details, result["ranks"]):
        d["rank"] = r
    result["span_iou_ge_0.3_top5"] = f"{sum(spans_ok)}/{len(spans_ok)}"
    result["queries"] = details

    # (b) concept channel alone: the same search with the on-screen text channel switched off
    store = lib.store
    real = store.search_text
    store.search_text = lambda *a, **k: []
    try:
        concept_only = [video_ranking(lib.search_text(q["query"], limit=100), names) for q in queries]
    finally:
        store.search_text = real
    result["baseline_concept_only"] = {k: v for k, v in score_rankings(queries, concept_only, n_videos).items()
                                       if k != "ranks"}

    # (a) top-1 class name only, from the stored frames' concept lists
    cs = lib.encoders.concepts
    frames = {}
    for vid, name in names.items():
        pts = store.scroll_payloads(vid) if hasattr(store, "scroll_payloads") else _payloads(store, vid)
        frames[name] = [p["concepts"][0][0] for p in pts if p.get("concepts")]
    top1 = []
    for q in queries:
        qv = cs.embed_query(q["query"])
        sims = cs.similarities(qv)
        scores = {name: max((float(sims[j]) for j in js), default=-1.0) for name, js in frames.items()}
        top1.append(sorted(scores, key=lambda n: -scores[n]))
    result["baseline_top1_class"] = {k: v for k, v in score_rankings(queries, top1, n_videos).items() if k != "ranks"}

    # (c) random ranking
    rng = random.Random(0)
    vids = sorted(set(names.values()))
    rand = {"r1": 0.0, "r5": 0.0, "mrr": 0.0}
    for _ in range(500):
        s = score_rankings(queries, [rng.sample(vids, len(vids)) for _ in queries], n_videos)
        for k in rand:
            rand[k] += s[k] / 500
    result["baseline_random"] = {k: round(v, 3) for k, v in rand.items()}
    return result


def _payloads(store, video_id: str) -> list[dict]:
    """Every stored frame payload of a video (all of the Edge store's frame shards)."""
    return [r.payload for r in store.frame_records(video_id)]


def pad_store(lib, target: int, seed: int = 0) -> int:
    """Add synthetic frames (random concept mixtures) until the store holds ``target`` frames."""
    from vidsearch.catalog import VideoRecord
    from vidsearch.models.concepts import l2_normalise
    from vidsearch.records import Keyframe

    have = lib.store.count_frames()
    need = max(0, target - have)
    rng = np.random.default_rng(seed)
    table = lib.encoders.concepts.table
    words = ["exit", "sale", "news", "score", "open", "police", "taxi", "hotel", "live", "gate"]
    per_video, done, v = 1000, 0, 0
    while done < need:
        vid = f"pad{v:05d}"
        n = min(per_video, need - done)
        lib.catalog.upsert(VideoRecord(id=vid, path=f"/synthetic/{vid}.mp4", status="indexing"))
        idx = rng.integers(0, 1000, size=(n, 20))
        w = rng.dirichlet(np.full(20, 0.3), size=n).astype(np.float32)
        vecs = l2_normalise(np.einsum("nk,nkd->nd", w, table[idx]))
        kfs = []
        for i in range(n):
            payload = {"concepts": [[int(idx[i, j]), round(float(w[i, j]), 4)] for j in np.argsort(-w[i])[:5]]}
            if rng.random() < 0.05:
                payload["text"] = " ".join(rng.choice(words, size=3))
            kfs.append(Keyframe(timestamp=float(i), segment_index=i // 10 * 10000, until=float(i + 1),
                                copy=None, semantic=None, concept=vecs[i], payload=payload))
        lib.store.upsert_frames(vid, kfs)
        lib.catalog.set_status(vid, "indexed", frames=n, segments=0, duration=float(n))
        done += n
        v += 1
    lib.store.flush()
    return lib.store.count_frames()


def latency(lib, queries, repeats: int = 3) -> dict:
    lib.search_text("warm up", limit=10)
    times = []
    for _ in range(repeats):
        for q in queries:
            t0 = time.perf_counter()
            lib.search_text(q["query"], limit=10)
            times.append((time.perf_counter() - t0) * 1000)
    embed = []
    for q in queries[:20]:
        t0 = time.perf_counter()
        lib.encoders.concepts.embed_query(q["query"])
        embed.append((time.perf_counter() - t0) * 1000)
    return {"n": len(times), "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
            "query_embedding_p50_ms": round(percentile(embed, 50), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="default settings only; 20k frames for latency")
    ap.add_argument("--videos", help="folder of real clips (default ../shared/testvideos)")
    ap.add_argument("--frames", type=int, default=None, help="stored frames for the latency test (default 100000)")
    args = ap.parse_args()
    target = args.frames or (20_000 if args.quick else 100_000)
    files = real_videos(args.videos, required=True)
    queries = load_queries()
    from vidsearch.config import Settings
    from vidsearch.library import Library

    report = {"machine": machine(), "queries": len(queries), "videos": len(files)}
    variants = [("default", {})] if args.quick else [("default", {}),
                                                      ("detectors", {"VIDSEARCH_DETECTORS": "person,face,colour"})]
    # VIDSEARCH_* settings of the environment apply to every variant (e.g. VIDSEARCH_OCR_SIZE=0)
    given = {k: v for k, v in os.environ.items() if k.startswith("VIDSEARCH_") and k != "VIDSEARCH_DATA_DIR"}
    if given:
        print(f"settings from the environment: {given}", flush=True)
        report["environment"] = given
    keep = None
    for label, env in variants:
        tmp = tempfile.mkdtemp(prefix=f"vidsearch-bench-text-{label}-")
        settings = Settings.from_env({**given, "VIDSEARCH_DATA_DIR": str(Path(tmp) / "data"), **env})
        lib = Library(settings)
        lib.encoders.concepts  # load the text models before timing ingestion  # noqa: B018
        lib.encoders.copy, lib.encoders.semantic  # noqa: B018
        print(f"[{label}] ingesting {len(files)} clips", flush=True)
        ing = ingest(lib, files)
        names = {r.id: Path(r.path).name for r in lib.videos() if r.status == "indexed"}
        print(f"[{label}] ingest: {ing}", flush=True)
        quality = evaluate(lib, queries, names)
        print(f"[{label}] R@1 {quality['r1']} R@5 {quality['r5']} MRR {quality['mrr']} "
              f"spans {quality['span_iou_ge_0.3_top5']}  top-1 class: {quality['baseline_top1_class']['r5']} "
              f"concept only: {quality['baseline_concept_only']['r5']} random: {quality['baseline_random']['r5']}",
              flush=True)
        report[label] = {"settings_env": env, "ingest": ing, "quality": quality}
        if label == "default":
            keep = lib
        else:
            lib.close()
    print(f"padding the store to {target} frames", flush=True)
    t0 = time.perf_counter()
    stored = pad_store(keep, target)
    report["latency"] = {"stored_frames": stored, "padding_s": round(time.perf_counter() - t0, 1),
                         **latency(keep, queries)}
    print(f"latency: {report['latency']}", flush=True)
    with search_constants(**EXACT_WORDS_ONLY):  # the baseline in the same process: no one-edit variants asked
        report["latency"]["exact_words_only"] = latency(keep, queries)
    report["latency"]["again_default"] = latency(keep, queries)  # the default once more: the load drifts
    print(f"latency, exact words only: {report['latency']['exact_words_only']}; "
          f"default again: {report['latency']['again_default']}", flush=True)
    keep.close()
    report["machine"]["loadavg_at_end"] = list(os.getloadavg())
    write_json("text", report, quick=args.quick)


if __name__ == "__main__":
    main()
