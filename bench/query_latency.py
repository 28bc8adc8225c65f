"""Image-query latency of the embedded store at 10k, 100k and 1M stored frames.

For each size, in a child process (so memory and the store are per size):

1. build: ``vidsearch.index.store.open_store`` on a fresh temporary data folder (the embedded
   Qdrant Edge store), ``upsert_frames`` of synthetic keyframes, 600 per video (a 10-min video at
   1 frame/s), then ``flush``: upsert rate and build seconds. Vectors are random L2-normalised 512-d
   ``copy`` vectors; the payload is what ingestion writes (``video_id``, ``t``, ``segment``). The
   1280-d ``semantic`` vectors are OMITTED to keep 1M frames in memory (they would add 5 GB at 1M);
   image queries only search ``copy``. ``close`` is timed too.
2. reopen: ``Library(settings)`` on that folder (owner lock, catalog with one ``indexed`` record per
   synthetic video, store load).
3. vector search only: ``store.search_frames("copy", q, limit=200)`` (the limit ``search_image``
   asks for), unfiltered and filtered by one ``video_id``; queries are stored vectors plus noise
   (cosine about 0.8 to their source), like a degraded copy of an indexed frame.
4. baseline, same vectors and queries: exact top-200 by a float32 matrix product in numpy
   (``M @ q`` + ``argpartition``), unfiltered and over one video's rows.
5. end to end: ``Library.search_image(image)`` on 1280x720 RGB query images: resize to 224 px,
   SSCD embedding, search, merging hits into moments, catalog look-ups; unfiltered and filtered.

p50/p95/mean over ``--queries`` (default 200) timed queries after 5 warm-up queries.

    .venv/bin/python bench/query_latency.py            # 10k, 100k, 1M (about 10-20 min on 2 cores)
    .venv/bin/python bench/query_latency.py --quick    # 10k only

Output: ``bench/out/query_latency.json`` (``query_latency.quick.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGETS_P50_MS = {100_000: 50.0, 1_000_000: 150.0}
FRAMES_PER_VIDEO = 600
SEARCH_LIMIT = 200  # what search_image asks the store for (max(100, limit*20) with limit=10)


def _stats(ms: list[float]) -> dict:
    return {"n": len(ms), "p50_ms": round(common.percentile(ms, 50), 2), "p95_ms": round(common.percentile(ms, 95), 2),
            "mean_ms": round(sum(ms) / len(ms), 2), "max_ms": round(max(ms), 2)}


def _timed(fn, args_list, warmup: int = 5) -> list[float]:
    for a in args_list[:warmup]:
        fn(a)
    out = []
    for a in args_list:
        t = time.perf_counter()
        fn(a)
        out.append((time.perf_counter() - t) * 1000)
    return out


def child(n: int, out_json: str, queries: int, data_dir: str) -> None:
    sys.path.insert(0, str(common.REPO))
    import numpy as np

    from vidsearch.catalog import Catalog, VideoRecord
    from vidsearch.config import Settings
    from vidsearch.index.store import open_store
    from vidsearch.library import Library
    from vidsearch.records import Keyframe

    rng = np.random.default_rng(n)
    settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": data_dir})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    n_videos = -(-n // FRAMES_PER_VIDEO)
    video_ids = [f"{i:016x}" for i in rng.integers(0, 2**63, n_videos)]
    rep: dict = {"frames": n, "videos": n_videos, "frames_per_video": FRAMES_PER_VIDEO}

    # -- build ------------------------------------------------------------------------------
    keep: list[np.ndarray] = []  # a few stored vectors to derive queries from
    matrix = np.empty((n, 512), np.float32)  # the same vectors for the numpy brute-force baseline
    t0 = time.perf_counter()
    store = open_store(settings)
    rep["open_empty_s"] = round(time.perf_counter() - t0, 3)
    gen_s = 0.0
    t_build = time.perf_counter()
    done = 0
    for vi, vid in enumerate(video_ids):
        k = min(FRAMES_PER_VIDEO, n - done)
        g = time.perf_counter()
        vecs = rng.standard_normal((k, 512), dtype=np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        kfs = [Keyframe(timestamp=float(t), segment_index=t // 10, until=float(t + 1), copy=vecs[t]) for t in range(k)]
        matrix[done: done + k] = vecs
        if vi % max(1, n_videos // 50) == 0:
            keep.extend(vecs[rng.integers(0, k, 5)])
        gen_s += time.perf_counter() - g
        store.upsert_frames(vid, kfs)
        done += k
    t = time.perf_counter()
    store.flush()
    rep["flush_s"] = round(time.perf_counter() - t, 2)
    build = time.perf_counter() - t_build - gen_s
    rep["build_s"] = round(build, 2)
    rep["upsert_points_per_s"] = round(n / build, 0)
    rep["count_frames"] = store.count_frames()
    rep["rss_after_build_mib"] = common.mib(common.peak_rss_self())

    # -- vector search only -------------------------------------------------------------------
    def query_vec(i: int) -> np.ndarray:
        base = keep[i % len(keep)]
        q = base + 0.75 * rng.standard_normal(512).astype(np.float32) / np.sqrt(512)
        return (q / np.linalg.norm(q)).astype(np.float32)

    qs = [query_vec(i) for i in range(queries)]
    vids = [video_ids[i] for i in rng.integers(0, n_videos, queries)]
    rep["query_cosine_to_source_mean"] = round(float(np.mean([q @ keep[i % len(keep)] for i, q in enumerate(qs)])), 3)
    found = store.search_frames("copy", qs[0], SEARCH_LIMIT)
    rep["hits_returned"] = len(found)
    rep["search_unfiltered"] = _stats(_timed(lambda q: store.search_frames("copy", q, SEARCH_LIMIT), qs))
    pairs = list(zip(qs, vids))
    rep["search_filtered_video"] = _stats(_timed(
        lambda p: store.search_frames("copy", p[0], SEARCH_LIMIT, video_id=p[1]), pairs))
    # baseline: exact top-SEARCH_LIMIT by a float32 matrix product in numpy, same queries
    def brute(q: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        scores = matrix[rows] @ q
        k = min(SEARCH_LIMIT, scores.shape[0])
        top = np.argpartition(-scores, k - 1)[:k]
        return top[np.argsort(-scores[top])]

    rep["numpy_bruteforce_unfiltered"] = _stats(_timed(brute, qs))
    vid_index = {v: i for i, v in enumerate(video_ids)}
    rep["numpy_bruteforce_filtered_video"] = _stats(_timed(
        lambda p: brute(p[0], slice(vid_index[p[1]] * FRAMES_PER_VIDEO, (vid_index[p[1]] + 1) * FRAMES_PER_VIDEO)),
        pairs))
    agree = []  # the store's top 10 against numpy's exact top 10 (float16 storage may swap near-ties)
    for q in qs[:20]:
        exact = {(video_ids[i // FRAMES_PER_VIDEO], float(i % FRAMES_PER_VIDEO)) for i in brute(q)[:10]}
        agree.append(len(exact & {(h.video_id, h.timestamp) for h in store.search_frames("copy", q, 10)}) / 10)
    rep["store_recall_at_10_vs_numpy"] = round(float(np.mean(agree)), 3)
    del matrix
    t = time.perf_counter()
    store.close()
    rep["close_s"] = round(time.perf_counter() - t, 2)

    # -- catalog records, then reopen through the Library --------------------------------------
    cat = Catalog(settings.catalog_path)
    cat._db.execute("BEGIN")
    for vid in video_ids:
        cat.upsert(VideoRecord(id=vid, path=f"/videos/{vid}.mp4", status="indexed", duration=float(FRAMES_PER_VIDEO),
                               frames=FRAMES_PER_VIDEO, added_at=1.0))
    cat._db.execute("COMMIT")
    cat.close()
    t = time.perf_counter()
    lib = Library(settings)
    rep["reopen_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    lib.store.search_frames("copy", qs[0], SEARCH_LIMIT)
    rep["first_search_after_reopen_ms"] = round((time.perf_counter() - t) * 1000, 1)

    # -- end to end: image -> SSCD -> search -> moments ----------------------------------------
    t = time.perf_counter()
    lib.encoders.copy.embed([np.zeros((224, 398, 3), np.uint8)])
    rep["sscd_load_s"] = round(time.perf_counter() - t, 2)
    images = []
    for i in range(16):  # smooth random 1280x720 pictures (SSCD cost does not depend on content)
        small = rng.integers(0, 255, (45, 80, 3), dtype=np.uint8)
        images.append(np.kron(small, np.ones((16, 16, 1), np.uint8)))
    imgs = [images[i % len(images)] for i in range(queries)]
    from vidsearch.media.image import resize_short_side

    rep["embed_only"] = _stats(_timed(
        lambda im: lib.encoders.copy.embed([resize_short_side(im, settings.frame_size)]), imgs))
    rep["e2e_unfiltered"] = _stats(_timed(lambda im: lib.search_image(im, limit=10), imgs))
    rep["e2e_filtered_video"] = _stats(_timed(lambda p: lib.search_image(p[0], limit=10, video_id=p[1]),
                                              list(zip(imgs, vids))))
    lib.close()
    rep["peak_rss_mib"] = common.mib(common.peak_rss_self())
    rep["disk_mib"] = common.mib(sum(f.stat().st_size for f in settings.data_dir.rglob("*") if f.is_file()))
    Path(out_json).write_text(json.dumps(rep))


def run_size(n: int, queries: int, timeout: float) -> dict:
    print(f"[{n} frames] building...", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"vidsearch-bench-q{n}-"))
    out_json = tmp / "child.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), str(out_json), str(queries),
           str(tmp / "data")]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=common.REPO)
    with common.PeakRSS(proc.pid, interval=0.25) as sampler:
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = f"timeout after {timeout:.0f} s"
    wall = time.perf_counter() - t
    if rc != 0 or not out_json.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"[{n} frames] child failed: {rc}", flush=True)
        return {"frames": n, "error": f"child exited with {rc}", "wall_s": round(wall, 1)}
    rep = json.loads(out_json.read_text())
    shutil.rmtree(tmp, ignore_errors=True)
    rep["child_wall_s"] = round(wall, 1)
    rep["peak_rss_sampled_mib"] = common.mib(sampler.peak)
    target = TARGETS_P50_MS.get(n)
    rep["target_p50_ms"] = target
    if target:
        rep["p50_vs_target"] = {k: common.ratio(rep[k]["p50_ms"], target)
                                for k in ("search_unfiltered", "search_filtered_video", "e2e_unfiltered",
                                          "e2e_filtered_video")}
    rep["store_vs_numpy_p50"] = {
        "unfiltered": common.ratio(rep["search_unfiltered"]["p50_ms"], rep["numpy_bruteforce_unfiltered"]["p50_ms"]),
        "filtered_video": common.ratio(rep["search_filtered_video"]["p50_ms"],
                                       rep["numpy_bruteforce_filtered_video"]["p50_ms"]),
    }
    print(f"[{n} frames] build {rep['build_s']} s ({rep['upsert_points_per_s']:.0f} pts/s), reopen {rep['reopen_s']} s; "
          f"search p50/p95 {rep['search_unfiltered']['p50_ms']}/{rep['search_unfiltered']['p95_ms']} ms, "
          f"filtered {rep['search_filtered_video']['p50_ms']}/{rep['search_filtered_video']['p95_ms']} ms; "
          f"e2e {rep['e2e_unfiltered']['p50_ms']}/{rep['e2e_unfiltered']['p95_ms']} ms; numpy brute force "
          f"{rep['numpy_bruteforce_unfiltered']['p50_ms']}/{rep['numpy_bruteforce_unfiltered']['p95_ms']} ms; "
          f"peak RSS {rep['peak_rss_mib']} MiB", flush=True)
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k frames only")
    ap.add_argument("--sizes", type=lambda s: [int(float(x)) for x in s.split(",")],
                    help="comma-separated frame counts (default 10000,100000,1000000)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=2400, help="seconds allowed per size")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        n, out_json, queries, data_dir = a.child
        child(int(n), out_json, int(queries), data_dir)
        return
    common.check_product_ready()
    m = common.machine()
    print(common.machine_line(m), flush=True)
    sizes = a.sizes or ([10_000] if a.quick else [10_000, 100_000, 1_000_000])
    queries = max(100, a.queries if not a.quick else 100)
    results = [run_size(n, queries, a.timeout) for n in sizes]
    m["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    common.write_json("query_latency", {"machine": m, "targets_p50_ms": TARGETS_P50_MS, "search_limit": SEARCH_LIMIT,
                                        "semantic_vectors": "omitted (copy vectors only)", "sizes": results},
                      quick=a.quick)


if __name__ == "__main__":
    main()
