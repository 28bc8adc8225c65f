"""Load: many concurrent clients for a fixed time while the server ingests, zero errors expected.

1. build (in this process, as ``bench/api.py`` does): a fresh data folder, one real 720p video
   ingested, the store padded with synthetic frames to ``--frames``.
2. serve: ``vidsearch serve --threads T`` in a child process, the embedded default (the server owns
   the store and ingests in the background, in-process), with ``VIDSEARCH_ALLOWED_ROOTS`` set to a
   folder of videos to ingest: the real clips of ``--videos`` (copied there), else made ones.
3. the server is asked to ingest that folder (``POST /api/v1/videos`` ``{"path": ...}``), and at
   once ``--clients`` clients (threads of this process, one keep-alive connection each, loopback
   only) run a closed loop for ``--seconds``: a seeded mix of image searches (multipart JPEG), text
   searches (JSON), ``GET /api/v1/videos``, ``GET /api/v1/jobs/{id}`` and ``GET /healthz``. Bounded
   in count and time: the clients stop at the deadline and never exceed ``--max-requests``.
4. report: per kind and overall p50/p95/p99 latency, throughput, errors (any transport failure,
   timeout or status >= 500, and any 4xx, since every request sent is valid), the ingestion's
   progress during the load, then the ingestion's end (every video indexed), server CPU and RSS.

    .venv/bin/python bench/load.py                          # 50 clients x 60 s, 10k frames
    .venv/bin/python bench/load.py --clients 8 --seconds 20 --frames 0 --made-videos   # smoke

Output: ``bench/out/load.json`` (or ``--out PATH``). Exit status 1 when any request failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api  # noqa: E402  (the build, the query JPEGs and the HTTP client of the API benchmark)
import common  # noqa: E402

TEXT_QUERIES = ("a dog", "red car", "person walking", "kitchen", "bird", "text on screen", "a city street at night")
MIX = (("image", 0.55), ("text", 0.15), ("videos", 0.12), ("job", 0.12), ("health", 0.06))


def _pcts(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0}
    return {"n": len(ms), **{f"p{q}_ms": round(common.percentile(ms, q), 1) for q in (50, 95, 99)},
            "max_ms": round(max(ms), 1)}


def ingest_folder(dest: Path, videos: Path | None, made: bool, count: int) -> list[Path]:
    """Videos for the server to ingest during the load, copied under ``dest`` (an allowed root)."""
    dest.mkdir(parents=True, exist_ok=True)
    sources = [] if made else common.real_videos(videos)[:count]
    if not sources:
        sources = [common._busy_chunk(i + 1, common.VIDEO_CACHE, seconds=20)  # not chunk 0: the indexed video
                   for i in range(min(count, 4))]
    out = []
    for i, src in enumerate(sources):
        target = dest / f"{i:02d}_{src.name}"
        shutil.copyfile(src, target)
        out.append(target)
    return out


def run_load(host: str, port: int, *, clients: int, seconds: float, max_requests: int, images: list,
             job_ids: list[str], real_id: str, seed: int, mix=MIX) -> dict:
    lat: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    statuses: dict[str, int] = defaultdict(int)
    right = [0, 0]
    slow: list[tuple[float, str, float]] = []  # (seconds into the run when sent, kind, ms) of requests over 2 s
    t_start = [0.0]
    sent = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]
    kinds, weights = zip(*mix)

    def request(c: api.Client, kind: str, rng: random.Random) -> tuple[int, bytes]:
        if kind == "image":
            body, ctype = rng.choice(images)
            return c.call("POST", "/api/v1/search", body, {"Content-Type": ctype})
        if kind == "text":
            body = json.dumps({"text": rng.choice(TEXT_QUERIES), "limit": 10}).encode()
            return c.call("POST", "/api/v1/search", body, {"Content-Type": "application/json"})
        if kind == "videos":
            return c.call("GET", "/api/v1/videos")
        if kind == "job":
            return c.call("GET", f"/api/v1/jobs/{rng.choice(job_ids)}")
        return c.call("GET", "/healthz")

    def client(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        c = api.Client(host, port)
        c.conn.timeout = 120
        barrier.wait()
        while time.monotonic() < deadline[0]:
            with lock:
                if sent[0] >= max_requests:
                    break
                sent[0] += 1
            kind = rng.choices(kinds, weights)[0]
            t = time.perf_counter()
            try:
                status, raw = request(c, kind, rng)
            except Exception as exc:  # transport failure or timeout: an error, reported
                with lock:
                    errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])
                c.conn.close()
                c = api.Client(host, port)
                continue
            ms = (time.perf_counter() - t) * 1000
            with lock:
                if ms > 2000:
                    slow.append((round(t - t_start[0], 2), kind, round(ms)))
                statuses[f"{kind} {status}"] += 1
                if status != 200:
                    errors.append(f"{kind}: HTTP {status}: {raw[:200]!r}")
                    continue
                lat[kind].append(ms)
                if kind == "image":
                    results = json.loads(raw)["results"]
                    right[0] += bool(results) and results[0]["video_id"] == real_id
                    right[1] += 1
        c.conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for th in threads:
        th.start()
    deadline[0] = time.monotonic() + seconds
    t_start[0] = time.perf_counter()
    barrier.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join(seconds + 300)
    wall = time.perf_counter() - t0
    everything = [x for v in lat.values() for x in v]
    out = {"clients": clients, "seconds": seconds, "wall_s": round(wall, 1), "requests": sent[0],
           "answered": len(everything), "errors": len(errors), "throughput_rps": round(len(everything) / wall, 1),
           "overall": _pcts(everything), "by_kind": {k: _pcts(v) for k, v in lat.items()},
           "statuses": dict(sorted(statuses.items())),
           "image_real_video_first": f"{right[0]}/{right[1]}", "hung_clients": sum(th.is_alive() for th in threads),
           "over_2s": {"n": len(slow), "first": sorted(slow)[:20]}}
    if errors:
        out["first_errors"] = errors[:5]
    return out


def wait_jobs(c: api.Client, job_ids: list[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        jobs = [json.loads(c.call("GET", f"/api/v1/jobs/{j}")[1]) for j in job_ids]
        if all(j["status"] in ("done", "failed") for j in jobs) or time.monotonic() > deadline:
            return {"jobs": len(jobs), "done": sum(j["status"] == "done" for j in jobs),
                    "failed": [j.get("error") for j in jobs if j["status"] == "failed"],
                    "unfinished": sum(j["status"] not in ("done", "failed") for j in jobs)}
        time.sleep(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-requests", type=int, default=100_000, help="bound on requests, all clients together")
    ap.add_argument("--frames", type=int, default=10_000, help="stored frames (synthetic padding); 0: none")
    ap.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    ap.add_argument("--ingest-videos", type=int, default=12, help="videos ingested during the load")
    ap.add_argument("--videos", help="folder of real clips (default <repo>/../shared/testvideos)")
    ap.add_argument("--made-videos", action="store_true", help="ingest made videos, not the real clips")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-text", action="store_true", help="leave text searches out of the mix")
    ap.add_argument("--out", type=Path, default=None, help="output JSON (default bench/out/load.json)")
    a = ap.parse_args()
    common.check_product_ready()
    report: dict = {"machine": common.machine(), "settings": {k: v for k, v in vars(a).items() if k != "out"}}
    mix = tuple((k, w) for k, w in MIX if not (a.no_text and k == "text"))
    report["settings"]["mix"] = dict(mix)
    video = common.busy_video(0.25)
    tmp = Path(tempfile.mkdtemp(prefix="vidsearch-bench-load-"))
    proc = None
    try:
        report["build"] = api.build(tmp / "data", a.frames, video)
        real_id = report["build"]["real_video"]["video_id"]
        images = [api.multipart(j) for j in api.query_jpegs(video, tmp / "queries", n=8)]
        files = ingest_folder(tmp / "media", a.videos and Path(a.videos), a.made_videos, a.ingest_videos)
        report["ingest_during_load"] = {"videos": len(files), "bytes": sum(f.stat().st_size for f in files),
                                        "seconds_of_video": round(sum(common.probe_duration(f) or 0 for f in files), 1)}
        # default models and stages, so that ingestion during the load costs what it costs
        proc, host, port = api.start_server(tmp / "data", a.threads, VIDSEARCH_ALLOWED_ROOTS=str(tmp / "media"),
                                            VIDSEARCH_MIN_FREE_MB="0")
        report["models_loaded_s"] = api.wait_ready(host, port)  # traffic comes after a server has started
        c = api.Client(host, port)
        t = time.perf_counter()
        for body, ctype in images[:2]:
            status, raw = c.call("POST", "/api/v1/search", body, {"Content-Type": ctype})
            assert status == 200, raw
        report["warm_up_s"] = round(time.perf_counter() - t, 1)
        job_ids = []
        for f in files:  # one job per file, as an integration adding recordings would do
            status, raw = c.call("POST", "/api/v1/videos", json.dumps({"path": str(f)}).encode(),
                                 {"Content-Type": "application/json"})
            assert status == 202, raw
            job_ids.append(json.loads(raw)["job_id"])
        cpu0 = api._cpu_s(proc.pid)
        print(f"{a.clients} clients for {a.seconds:.0f} s while {len(files)} videos ingest ...", flush=True)
        report["load"] = run_load(host, port, clients=a.clients, seconds=a.seconds, max_requests=a.max_requests,
                                  images=images, job_ids=job_ids, real_id=real_id, seed=a.seed, mix=mix)
        cpu1 = api._cpu_s(proc.pid)
        report["load"]["server_cpu_s"] = round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None
        report["ingest_at_end_of_load"] = wait_jobs(c, job_ids, 0)
        print(json.dumps(report["load"], indent=1), flush=True)
        t = time.perf_counter()
        report["ingest_after"] = wait_jobs(c, job_ids, 1800)
        report["ingest_after"]["extra_wait_s"] = round(time.perf_counter() - t, 1)
        status, raw = c.call("GET", "/api/v1/videos")
        report["videos_indexed"] = sum(v["status"] == "indexed" for v in json.loads(raw)["videos"])
        try:
            import psutil

            report["server_rss_mib"] = common.mib(psutil.Process(proc.pid).memory_info().rss)
        except Exception:
            pass
        c.conn.close()
    finally:
        api.stop_server(proc)
        report["machine"]["loadavg_at_end"] = list(os.getloadavg())
        shutil.rmtree(tmp, ignore_errors=True)
    ok = (report["load"]["errors"] == 0 and report["load"]["hung_clients"] == 0
          and report["ingest_after"]["done"] == report["ingest_after"]["jobs"])
    report["verdict"] = {"zero_errors": report["load"]["errors"] == 0, "all_ingested": ok}
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(report, indent=2) + "\n")
    else:
        common.write_json("load", report)
    print(json.dumps(report["verdict"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
