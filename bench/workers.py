"""Distributed ingestion: in-process vs one vs two worker processes, queue and relay costs, kill -9.

Throughput (same videos, same run, same machine; each case in a fresh data folder):

1. ``inproc``: ``Library.ingest`` in a child process (default decoder: decord for whole files);
2. ``inproc_pyav``: the same with ``VIDSEARCH_DECODER=pyav`` -- exactly the decoding the workers do
   (spans are always decoded with PyAV, see vidsearch/media/decode.py), so ``workers_1`` against it
   is the queue's own overhead;
3. ``workers_1`` / ``workers_2``: one / two ``vidsearch worker`` processes (prefork, one pool
   process each, models loaded before the clock starts), this process owning the embedded store
   and draining the Redis relay (what ``vidsearch ingest --wait`` does). Wall time runs from the
   first submit to the last job done.

Reported: wall, x real time, CPU seconds (children's rusage, workers' process trees via psutil),
overhead ``workers_1 / inproc_pyav - 1`` (target <= 10%) and per chunk, the gaps between one
worker's consecutive chunks (dispatch latency), and the relay: bytes per keyframe, worker-side
encode+XADD seconds, owner-side decode and write seconds, against the in-process write stage.

Kill trials (``--kill-trials N``): two workers; for each of N distinct videos, ``kill -9`` a
process that is mid-chunk (even trials: the pool process, noticed at once; odd trials: the whole
worker and its pool, recovered after the visibility timeout, then a new worker is started), wait
for the job, and count lost and duplicated frame and segment points against the spans' frames.

    .venv/bin/python bench/workers.py                   # 4 distinct 1-min 720p30 videos, 30-s chunks
    .venv/bin/python bench/workers.py --quick           # 2 x 15 s, 5-s chunks, 2 kill trials
    .venv/bin/python bench/workers.py --skip-throughput --kill-trials 10

Output: ``bench/out/workers.json`` (``workers.quick.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

REPO = common.REPO
sys.path.insert(0, str(REPO))


# ------------------------------------------------------------------------------------------------
# Child: in-process ingest


def child_inproc(data_dir: str, out_json: str, files: list[str]) -> None:
    import numpy as np

    from vidsearch.config import Settings
    from vidsearch.library import Library

    settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": data_dir})
    with Library(settings) as lib:
        lib.encoders.embed([np.zeros((224, 224, 3), np.uint8)])  # models loaded before the clock
        ru0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        results = list(lib.ingest(files))
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    stages: dict[str, float] = {}
    for r in results:
        for k, v in r.times.items():
            if k != "total":  # the file's wall time, not a stage
                stages[k] = stages.get(k, 0.0) + v
    Path(out_json).write_text(json.dumps({
        "wall_s": wall, "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "video_s": sum(r.duration for r in results), "failed": [r.error for r in results if r.status != "indexed"],
        "keyframes": sum(r.keyframes for r in results), "segments": sum(r.segments for r in results),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
    }))


def run_inproc(files: list[Path], env: dict, tmp: Path, name: str) -> dict:
    out = tmp / f"{name}.json"
    data = tmp / f"{name}-data"
    subprocess.run([sys.executable, __file__, "--child-inproc", str(data), str(out), *map(str, files)],
                   env=env, check=True, cwd=REPO)
    rep = json.loads(out.read_text())
    rep["x_realtime"] = round(rep["video_s"] / rep["wall_s"], 2)
    return rep


# ------------------------------------------------------------------------------------------------
# Redis and workers


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    """127.0.0.1:6379 database 12 when it answers, else a private redis-server."""

    def __init__(self, tmp: Path):
        self.proc = None
        if _answers(6379):
            self.url = "redis://127.0.0.1:6379/12"
            return
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen(["redis-server", "--port", str(port), "--dir", str(tmp), "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        while not _answers(port):
            time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{port}/0"

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


class Workers:
    def __init__(self, env: dict, logs: Path):
        self.env, self.logs, self.procs = env, logs, []
        logs.mkdir(parents=True, exist_ok=True)

    def add(self) -> subprocess.Popen:
        log = open(self.logs / f"worker{len(self.procs)}.log", "ab")
        p = subprocess.Popen([sys.executable, "-m", "vidsearch.cli", "worker"], env=self.env, cwd=REPO,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def wait_ready(self, jobs, n: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while len(jobs.workers()) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready; see {self.logs}")
            time.sleep(0.2)

    def cpu_s(self) -> float:
        import psutil

        total = 0.0
        for p in self.procs:
            try:
                proc = psutil.Process(p.pid)
                for q in [proc, *proc.children(recursive=True)]:
                    t = q.cpu_times()
                    total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def kill_group(self, p: subprocess.Popen) -> None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_group(p)


class Owner:
    """This process owns a fresh embedded store and drains the relay into it."""

    def __init__(self, settings):
        from vidsearch.catalog import Catalog
        from vidsearch.index.store import open_store
        from workers.owner import OwnerLoop

        self.store = open_store(settings)
        self.loop = OwnerLoop(settings, self.store)
        self.catalog = Catalog(settings.catalog_path)
        self.cpu = 0.0

    def step(self) -> None:
        t = time.process_time()
        self.loop.step(self.catalog, block_ms=100)
        self.cpu += time.process_time() - t

    def close(self) -> None:
        self.catalog.close()
        self.store.close()


def cluster_env(base: dict, data: Path, url: str, prefix: str) -> dict:
    env = {k: v for k, v in base.items() if k not in ("VIDSEARCH_DATA_DIR", "VIDSEARCH_QDRANT_URL")}
    env.update({"PYTHONPATH": str(REPO), "VIDSEARCH_DATA_DIR": str(data), "VIDSEARCH_BROKER_URL": url,
                "VIDSEARCH_REDIS_PREFIX": prefix})
    return env


def drop_prefix(jobs) -> None:
    keys = list(jobs.r.scan_iter(match=f"{jobs.prefix}:*", count=1000))
    for i in range(0, len(keys), 500):
        jobs.r.delete(*keys[i : i + 500])


def run_workers(files: list[Path], base_env: dict, tmp: Path, redis_url: str, n: int, name: str) -> dict:
    from vidsearch.config import Settings
    from workers.client import Client
    from workers.jobs import JobStore

    prefix = f"vsbench-{uuid.uuid4().hex[:8]}"
    env = cluster_env(base_env, tmp / f"{name}-data", redis_url, prefix)
    settings = Settings.from_env(env)
    jobs = JobStore.from_settings(settings)
    workers = Workers(env, tmp / f"{name}-logs")
    owner = None
    try:
        for _ in range(n):
            workers.add()
        t_start = time.perf_counter()
        workers.wait_ready(jobs, n)
        ready_s = time.perf_counter() - t_start
        owner = Owner(settings)
        client = Client(settings, jobs=jobs)
        cpu0 = workers.cpu_s()
        t0, w0 = time.perf_counter(), time.time()
        subs = client.submit(files)
        final = client.wait([s.job_id for s in subs], step=owner.step)
        wall = time.perf_counter() - t0
        cpu = workers.cpu_s() - cpu0
        failed = [j.error for j in final.values() if j.status != "done"]
        chunks = []
        for j in final.values():
            for idx, st in jobs.chunk_stats(j.id, j.attempt).items():
                chunks.append({**st, "job": j.id, "index": idx})
        # one worker: the gaps between a chunk's end and the next chunk's start (dispatch latency)
        gaps = []
        for worker in {c["worker"] for c in chunks}:
            mine = sorted((c["started"], c["started"] + c["wall_s"]) for c in chunks if c["worker"] == worker)
            gaps += [b[0] - a[1] for a, b in zip(mine, mine[1:])]
        relay = owner.loop.relay.stats
        video_s = sum(j.duration or 0 for j in final.values())
        keyframes = sum(j.keyframes for j in final.values())
        rep = {
            "workers": n, "wall_s": wall, "x_realtime": round(video_s / wall, 2), "video_s": video_s,
            "worker_cpu_s": round(cpu, 2), "owner_cpu_s": round(owner.cpu, 2), "failed": failed,
            "keyframes": keyframes, "segments": sum(j.segments for j in final.values()),
            "chunks": len(chunks), "workers_used": len({c["worker"] for c in chunks}),
            "chunk_compute_s": round(sum(c["wall_s"] for c in chunks), 3),
            "first_chunk_start_s": round(min(c["started"] for c in chunks) - w0, 3),
            "gap_s": {"median": round(statistics.median(gaps), 4) if gaps else None,
                      "max": round(max(gaps), 4) if gaps else None, "n": len(gaps)},
            "worker_stage_s": {k: round(sum(c["times"].get(k, 0.0) for c in chunks), 3)
                               for k in ("decode", "segment", "embed", "write")},
            "relay": {"bytes": relay["bytes"], "thumbnail_bytes": relay["thumbnail_bytes"],
                      "batches": relay["batches"], "messages": relay["messages"],
                      "bytes_per_keyframe": round(relay["bytes"] / max(keyframes, 1)),
                      "vector_bytes_per_keyframe": round((relay["bytes"] - relay["thumbnail_bytes"]) / max(keyframes, 1)),
                      "owner_decode_s": round(relay["decode_s"], 3), "owner_write_s": round(relay["write_s"], 3),
                      "worker_encode_xadd_s": round(sum(c["times"].get("write", 0.0) for c in chunks), 3)},
            "workers_ready_s": round(ready_s, 1),
        }
        return rep
    finally:
        workers.stop()
        if owner is not None:
            owner.close()
        drop_prefix(jobs)


# ------------------------------------------------------------------------------------------------
# Kill trials


def trial_video(i: int, cache: Path) -> Path:
    """Distinct 320x240 videos of 24+i seconds with three scenes each."""
    out = cache / f"kill_{i:02d}.mp4"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    sources = ["testsrc2", "mandelbrot", "cellauto", "smptebars", "rgbtestsrc", "life"]
    scenes = [sources[(i + k) % len(sources)] for k in range(3)]
    secs = (24 + i) / 3
    args = []
    for s in scenes:
        args += ["-f", "lavfi", "-t", f"{secs:.3f}", "-i", f"{s}=size=320x240:rate=25"]
    graph = "".join(f"[{k}:v]format=yuv420p,setsar=1[v{k}];" for k in range(3)) + "[v0][v1][v2]concat=n=3:v=1:a=0[o]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-filter_complex", graph, "-map", "[o]", "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def kill_trials(n: int, base_env: dict, tmp: Path, redis_url: str, log) -> dict:
    import psutil

    from tests.workers.points import expected_points, stored_points
    from vidsearch.config import Settings
    from workers.client import Client
    from workers.jobs import JobStore

    prefix = f"vsbench-{uuid.uuid4().hex[:8]}"
    extra = {"VIDSEARCH_SEMANTIC": "0", "VIDSEARCH_SAMPLE_FPS": "4", "VIDSEARCH_CHUNK_SECONDS": "5",
             "VIDSEARCH_DECODE_CHUNK": "6", "VIDSEARCH_VISIBILITY_TIMEOUT": "40", "VIDSEARCH_TASK_TIME_LIMIT": "30"}
    env = cluster_env({**base_env, **extra}, tmp / "kill-data", redis_url, prefix)
    settings = Settings.from_env(env)
    jobs = JobStore.from_settings(settings)
    workers = Workers(env, tmp / "kill-logs")
    videos = [trial_video(i, common.VIDEO_CACHE / "kill") for i in range(n)]
    trials = []
    owner = None
    try:
        workers.add()
        workers.add()
        workers.wait_ready(jobs, 2)
        owner = Owner(settings)
        client = Client(settings, jobs=jobs)
        for i, video in enumerate(videos):
            whole = i % 2 == 1
            (sub,) = client.submit([video])
            job_id = sub.job_id
            victim = None
            deadline = time.monotonic() + 120
            while victim is None and time.monotonic() < deadline:
                owner.step()
                job = jobs.get(job_id)
                done = jobs.done_chunks(job_id, 1) if job.chunks else set()
                for index, live in jobs.live_chunks(job_id, 1).items():
                    if live["batches"] >= 1 and index not in done:
                        try:
                            parent = psutil.Process(live["pid"]).ppid()
                        except psutil.NoSuchProcess:
                            continue
                        worker = next((p for p in workers.procs if p.pid == parent and p.poll() is None), None)
                        if worker is not None:
                            victim = (index, live["pid"], worker)
                            break
            if victim is None:
                raise RuntimeError(f"trial {i}: never saw a chunk in progress")
            index, pid, worker = victim
            t_kill = time.monotonic()
            if whole:
                workers.kill_group(worker)  # the worker and its pool process
                workers.add()
            else:
                os.kill(pid, signal.SIGKILL)  # the pool process only
            final = client.wait([job_id], step=owner.step)[job_id]
            recovery = time.monotonic() - t_kill
            frames, segs = stored_points(owner.store, final.video_id)
            want_frames, want_segs = expected_points(video, settings)
            runs = int(jobs.r.hget(jobs.key("job", job_id, 1, "runs"), index) or 0)
            trial = {
                "trial": i, "video": video.name, "killed": "whole worker" if whole else "pool process",
                "chunk": index, "chunk_runs": runs, "status": final.status, "recovery_s": round(recovery, 1),
                "frames": len(frames), "segments": len(segs),
                "lost_frames": len(want_frames - set(frames)), "lost_segments": len(want_segs - set(segs)),
                "extra_frames": len(set(frames) - want_frames), "extra_segments": len(set(segs) - want_segs),
                "duplicated_frames": len(frames) - len(set(frames)), "duplicated_segments": len(segs) - len(set(segs)),
            }
            trials.append(trial)
            log(f"  trial {i}: {trial}")
            if whole:
                workers.wait_ready(jobs, 2)
    finally:
        workers.stop()
        if owner is not None:
            owner.close()
        drop_prefix(jobs)
    keys = ("lost_frames", "lost_segments", "extra_frames", "extra_segments", "duplicated_frames", "duplicated_segments")
    return {"trials": trials, "totals": {k: sum(t[k] for t in trials) for k in keys},
            "all_done": all(t["status"] == "done" for t in trials),
            "all_redone": all(t["chunk_runs"] >= 2 for t in trials)}


# ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=4, help="distinct 1-minute 720p30 videos (default 4)")
    ap.add_argument("--chunk-seconds", type=float, default=30.0)
    ap.add_argument("--no-semantic", action="store_true", help="copy descriptor only")
    ap.add_argument("--kill-trials", type=int, default=10)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--quick", action="store_true", help="2 x 15-s videos, 5-s chunks, 2 kill trials")
    ap.add_argument("--name", help="output name (default workers, workers.quick)")
    ap.add_argument("--child-inproc", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_inproc:
        data, out, *files = args.child_inproc
        child_inproc(data, out, files)
        return

    name = args.name or ("workers.quick" if args.quick else "workers")
    common.OUT.mkdir(parents=True, exist_ok=True)
    log_path = common.OUT / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "w")

    def log(text: str) -> None:
        print(text, flush=True)
        log_file.write(text + "\n")
        log_file.flush()

    report: dict = {"machine": common.machine(), "command": " ".join(sys.argv)}
    base_env = {**os.environ, "PYTHONPATH": str(REPO), "VIDSEARCH_DEVICE": "cpu",
                "VIDSEARCH_CHUNK_SECONDS": str(5 if args.quick else args.chunk_seconds)}
    base_env = {k: v for k, v in base_env.items() if not (k.startswith("VIDSEARCH_") and k in (
        "VIDSEARCH_BROKER_URL", "VIDSEARCH_REDIS_PREFIX", "VIDSEARCH_DECODER", "VIDSEARCH_SEMANTIC"))}
    if args.no_semantic:
        base_env["VIDSEARCH_SEMANTIC"] = "0"
    with tempfile.TemporaryDirectory(prefix="vidsearch-bench-workers-") as tmp_name:
        tmp = Path(tmp_name)
        redis = Redis(tmp)
        report["redis"] = redis.url
        try:
            if not args.skip_throughput:
                if args.quick:
                    files = [common._busy_chunk(i, common.VIDEO_CACHE, seconds=15) for i in range(2)]
                else:
                    files = [common._busy_chunk(i, common.VIDEO_CACHE) for i in range(args.videos)]
                log(f"videos: {[f.name for f in files]}, chunk {base_env['VIDSEARCH_CHUNK_SECONDS']} s, "
                    f"semantic {'off' if args.no_semantic else 'on'}; {common.machine_line(report['machine'])}")
                cases = {}
                for case in ("inproc_pyav", "workers_1", "workers_2", "inproc"):
                    log(f"{case} ...")
                    if case.startswith("inproc"):
                        env = {**base_env, **({"VIDSEARCH_DECODER": "pyav"} if case == "inproc_pyav" else {})}
                        cases[case] = run_inproc(files, env, tmp, case)
                    else:
                        cases[case] = run_workers(files, base_env, tmp, redis.url, int(case[-1]), case)
                    log(f"  {json.dumps(cases[case])}")
                ip, w1, w2 = cases["inproc_pyav"], cases["workers_1"], cases["workers_2"]
                report["throughput"] = cases
                report["summary"] = {
                    "queue_overhead_vs_inproc_pyav": round(w1["wall_s"] / ip["wall_s"] - 1, 4),
                    "queue_overhead_vs_inproc_default": round(w1["wall_s"] / cases["inproc"]["wall_s"] - 1, 4),
                    "overhead_per_chunk_s": round((w1["wall_s"] - ip["wall_s"]) / w1["chunks"], 3),
                    "speedup_2_workers_vs_1": round(w1["wall_s"] / w2["wall_s"], 3),
                    "relay_bytes_per_keyframe": w1["relay"]["bytes_per_keyframe"],
                    "relay_cost_s": round(w1["relay"]["owner_decode_s"] + w1["relay"]["owner_write_s"]
                                          + w1["relay"]["worker_encode_xadd_s"], 3),
                    "inproc_write_s": ip["stages_s"].get("write"),
                    "target_queue_overhead": 0.10,
                }
                log(f"summary: {json.dumps(report['summary'])}")
                (common.OUT / f"{name}.json").write_text(json.dumps(report, indent=1))
            if args.kill_trials or args.quick:
                n = 2 if args.quick else args.kill_trials
                log(f"kill trials: {n}")
                report["kill_trials"] = kill_trials(n, base_env, tmp, redis.url, log)
                log(f"kill totals: {report['kill_trials']['totals']}, all done: {report['kill_trials']['all_done']}")
        finally:
            redis.close()
    report["machine"]["loadavg_at_end"] = list(os.getloadavg())
    out = common.OUT / f"{name}.json"
    out.write_text(json.dumps(report, indent=1))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
