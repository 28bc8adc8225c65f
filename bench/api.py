"""The web API under load: image search with concurrent clients at 100k stored frames, and the
search page's load time.

1. build (in this process): a fresh data folder; ``Library.ingest`` of one real 720p video
   (``busy_15s.mp4`` from :mod:`common`), then the store is padded with synthetic keyframes of
   other video ids through the store API (``upsert_frames``: random L2-normalised 512-d ``copy``
   vectors, 600 per video, payload as ingestion writes it) up to ``--frames`` stored frames, with
   an ``indexed`` catalog record per synthetic video (moments look their videos up).
2. serve: ``vidsearch serve --threads 8`` in a child process (waitress, the production server),
   exactly as a user starts it; the clients are threads of this process talking plain HTTP.
3. image search: ``POST /api/v1/search`` (multipart, a 1280x720 JPEG frame of the real video,
   ``limit=10``). After warm-up (the first search loads the model): one client alone, then
   ``--clients`` concurrent clients in a closed loop (each sends its next request when the last
   one is answered). p50/p95/max latency per request, throughput, and whether the real video came
   first (the answer is right, not only fast).
4. the search page: plain HTTP (``GET /`` + its CSS and JS, as a browser fetches them on a cold
   cache), and headless Chromium (Selenium + chromium-driver, when installed): navigation start
   to the ``load`` event, first load of a fresh browser and warm reloads.

5. ``--text-compare N``, a run of its own: text search against image search through the same API,
   on a small index (the real video plus the first ``--text-clips`` real clips of
   ``../shared/testvideos``, ingested with the default settings: concept vectors and on-screen
   text), server with the default settings. After warm-up, ``N`` text requests (JSON
   ``{"text": ..., "limit": 10}``, the queries of ``bench/text_queries.tsv`` in turn) and ``N``
   image requests (as in 3), sequential on one connection and interleaved, so that both see the
   same machine load; p50/p95 of each and the ratio of the p50s.

    .venv/bin/python bench/api.py             # 100k frames, 8 clients x 60 requests (about 5 min on 2 cores)
    .venv/bin/python bench/api.py --quick     # 10k frames, fewer requests
    .venv/bin/python bench/api.py --text-compare 50   # text vs image search, small index

Output: ``bench/out/api.json`` (``api.quick.json``; ``api_text.json`` for ``--text-compare``).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGET_P95_MS = 200.0  # image search, 8 concurrent clients, 100k stored frames
TARGET_PAGE_S = 1.0  # the search page loads
FRAMES_PER_VIDEO = 600


def _stats(ms: list[float]) -> dict:
    return {"n": len(ms), "p50_ms": round(common.percentile(ms, 50), 1), "p95_ms": round(common.percentile(ms, 95), 1),
            "mean_ms": round(sum(ms) / len(ms), 1), "max_ms": round(max(ms), 1)}


# -- build ------------------------------------------------------------------------------------
def build(data_dir: Path, frames: int, video: Path, quantize: bool = True) -> dict:
    sys.path.insert(0, str(common.REPO))
    import numpy as np

    from vidsearch.catalog import VideoRecord
    from vidsearch.config import Settings
    from vidsearch.library import Library
    from vidsearch.records import Keyframe

    settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": str(data_dir), "VIDSEARCH_SEMANTIC": "0"})
    rep: dict = {"quantize": quantize}
    if not quantize:  # the baseline: a store made without int8 copies (plain exact scan); it keeps that
        from vidsearch.index.edge import EdgeStore

        EdgeStore(settings.qdrant_path, copy_dim=512, semantic_dim=1280, quantize=False).close()
    with Library(settings) as lib:
        t = time.perf_counter()
        (result,) = list(lib.ingest([video]))
        assert result.status == "indexed", result.error
        rep["real_video"] = {"path": str(video), "video_id": result.video_id, "keyframes": result.keyframes,
                             "ingest_s": round(time.perf_counter() - t, 1)}
        real = lib.store.count_frames()
        pad = max(0, frames - real)
        rng = np.random.default_rng(0)
        n_videos = -(-pad // FRAMES_PER_VIDEO)
        t = time.perf_counter()
        done = 0
        for i in range(n_videos):
            vid = f"{rng.integers(0, 2**63):016x}"
            k = min(FRAMES_PER_VIDEO, pad - done)
            vecs = rng.standard_normal((k, 512), dtype=np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            lib.store.upsert_frames(vid, [Keyframe(timestamp=float(s), segment_index=s // 10 * 10000, until=float(s + 1),
                                                   copy=vecs[s]) for s in range(k)])
            lib.catalog.upsert(VideoRecord(id=vid, path=f"/videos/{vid}.mp4", status="indexed", duration=float(k),
                                           frames=k, added_at=1.0))
            done += k
        lib.store.flush()
        rep["padding"] = {"videos": n_videos, "frames": done, "build_s": round(time.perf_counter() - t, 1)}
        rep["stored_frames"] = lib.store.count_frames()
    return rep


def query_jpegs(video: Path, out: Path, n: int = 12) -> list[bytes]:
    """``n`` 1280x720 JPEG frames of the real video, evenly spread (not on the sampled seconds)."""
    ffmpeg = common.need_ffmpeg()
    out.mkdir(parents=True, exist_ok=True)
    duration = common.probe_duration(video) or 15.0
    images = []
    for i in range(n):
        t = (i + 0.37) * duration / n
        path = out / f"q{i:02d}.jpg"
        subprocess.run([ffmpeg, "-v", "error", "-y", "-ss", f"{t:.3f}", "-i", str(video), "-frames:v", "1",
                        "-q:v", "3", str(path)], check=True)
        images.append(path.read_bytes())
    return images


# -- HTTP ---------------------------------------------------------------------------------------
def multipart(data: bytes) -> tuple[bytes, str]:
    b = uuid.uuid4().hex
    body = (f'--{b}\r\nContent-Disposition: form-data; name="limit"\r\n\r\n10\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{b}--\r\n".encode()
    return body, f"multipart/form-data; boundary={b}"


class Client:
    """One keep-alive HTTP connection, as a browser or an integration would hold."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=300)

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        raise AssertionError("unreachable")

    def search(self, body: bytes, ctype: str) -> tuple[float, dict]:
        t = time.perf_counter()
        status, raw = self.call("POST", "/api/v1/search", body, {"Content-Type": ctype})
        ms = (time.perf_counter() - t) * 1000
        if status != 200:
            raise RuntimeError(f"search answered {status}: {raw[:300]!r}")
        return ms, json.loads(raw)


def run_searches(host: str, port: int, bodies: list[tuple[bytes, str]], real_id: str, clients: int,
                 per_client: int) -> dict:
    latencies: list[float] = []
    right = 0
    lock = threading.Lock()
    errors: list[str] = []
    start = threading.Barrier(clients)

    def worker(k: int) -> None:
        nonlocal right
        c = Client(host, port)
        start.wait()
        for i in range(per_client):
            body, ctype = bodies[(k * 7 + i) % len(bodies)]
            try:
                ms, answer = c.search(body, ctype)
            except Exception as exc:  # reported, never hidden
                with lock:
                    errors.append(str(exc)[:200])
                continue
            with lock:
                latencies.append(ms)
                right += bool(answer["results"]) and answer["results"][0]["video_id"] == real_id
        c.conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    out = {"clients": clients, "requests": len(latencies), **_stats(latencies),
           "throughput_rps": round(len(latencies) / wall, 1), "wall_s": round(wall, 1),
           "real_video_first": f"{right}/{len(latencies)}", "errors": len(errors)}
    if errors:
        out["first_error"] = errors[0]
    return out


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def warm_up(host: str, port: int, bodies: list[tuple[bytes, str]]) -> float:
    """Every query once (the first loads what the server still lazily loads): ms of the first."""
    warm = Client(host, port)
    t = time.perf_counter()
    warm.search(*bodies[0])
    first = round((time.perf_counter() - t) * 1000, 1)
    for b in bodies:
        warm.search(*b)
    warm.conn.close()
    return first


def measured_searches(proc: subprocess.Popen, host: str, port: int, bodies: list[tuple[bytes, str]], real_id: str,
                      clients: int, per_client: int) -> dict:
    """:func:`run_searches`, plus the server's CPU per search (what one search costs, whatever else
    the machine runs) and the request rate that CPU would allow on all cores."""
    cpu0 = _cpu_s(proc.pid)
    out = run_searches(host, port, bodies, real_id, clients, per_client)
    cpu1 = _cpu_s(proc.pid)
    if cpu0 is not None and cpu1 is not None:
        per = (cpu1 - cpu0) * 1000 / max(1, out["requests"])
        out["server_cpu_ms_per_request"] = round(per, 1)
        out["cpu_bound_rps_on_all_cores"] = round(len(os.sched_getaffinity(0)) * 1000 / max(per, 1e-9), 1)
    return out


def start_server(data_dir: Path, threads: int, **env_extra: str) -> tuple[subprocess.Popen, str, int]:
    """``vidsearch serve --port 0`` in a child process, as a user starts it: (process, host, port)."""
    env = {**os.environ, "VIDSEARCH_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(common.REPO), **env_extra}
    proc = subprocess.Popen([sys.executable, "-m", "vidsearch.cli", "serve", "--port", "0", "--threads", str(threads)],
                            cwd=common.REPO, env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"http://(127\.0\.0\.1):(\d+)/", line)
    if not m:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining its output
    return proc, m.group(1), int(m.group(2))


def wait_ready(host: str, port: int, timeout: float = 600) -> float:
    """Seconds until ``/healthz`` says the server's models are loaded (``vidsearch serve`` loads them
    in the background at start)."""
    t0 = time.perf_counter()
    c = Client(host, port)
    try:
        while time.perf_counter() - t0 < timeout:
            status, raw = c.call("GET", "/healthz")
            if status == 200 and json.loads(raw).get("models") in ("ready", "failed", "on demand"):
                break
            time.sleep(0.2)
    finally:
        c.conn.close()
    return round(time.perf_counter() - t0, 1)


def stop_server(proc: subprocess.Popen | None) -> None:
    """SIGTERM (a clean stop), then SIGKILL after 60 s."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _finish(proc: subprocess.Popen | None, report: dict, tmp: Path, keep: bool) -> None:
    """A run's teardown, whatever happened: the server stopped, the load noted, the data folder gone
    (unless ``--keep``)."""
    stop_server(proc)
    report["machine"]["loadavg_at_end"] = list(os.getloadavg())
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)


# -- page load ----------------------------------------------------------------------------------
def page_http(host: str, port: int, reps: int) -> dict:
    """``GET /`` then its stylesheet and script on a new connection each time (a cold cache)."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        c = Client(host, port)
        status, html = c.call("GET", "/")
        assert status == 200
        for asset in re.findall(rb'(?:href|src)="(/static/[^"]+)"', html):
            s, _ = c.call("GET", asset.decode())
            assert s == 200, asset
        c.conn.close()
        times.append((time.perf_counter() - t) * 1000)
    return _stats(times)


def page_chromium(url: str, reps: int) -> dict:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    try:
        from selenium import webdriver
    except ImportError:
        return {"skipped": "selenium is not installed"}
    if not (Path(chromium).exists() and Path(driver_path).exists()):
        return {"skipped": "chromium / chromium-driver are not installed"}
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--window-size=1280,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver_path))
    script = ("const n = performance.getEntriesByType('navigation')[0];"
              "return n ? [n.domContentLoadedEventEnd, n.loadEventEnd, n.responseEnd] : null;")
    loads = []
    try:
        for i in range(reps + 1):
            driver.get(url)
            for _ in range(100):
                vals = driver.execute_script(script)
                if vals and vals[1] > 0:
                    break
                time.sleep(0.02)
            loads.append(vals)
    finally:
        driver.quit()
    first, warm = loads[0], loads[1:]
    return {"first_load_ms": round(first[1], 1), "first_dom_content_loaded_ms": round(first[0], 1),
            "warm_load": _stats([v[1] for v in warm]),
            "warm_dom_content_loaded": _stats([v[0] for v in warm])}


# -- text vs image ------------------------------------------------------------------------------
def text_queries() -> list[str]:
    rows = (Path(__file__).resolve().parent / "text_queries.tsv").read_text().splitlines()
    return [r.split("\t")[0] for r in rows if r.strip() and not r.startswith("#")]


def build_small(data_dir: Path, videos: list[Path]) -> dict:
    """A small index with the default settings (concept vectors and on-screen text)."""
    sys.path.insert(0, str(common.REPO))
    from vidsearch.config import Settings
    from vidsearch.library import Library

    settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": str(data_dir)})
    t = time.perf_counter()
    with Library(settings) as lib:
        results = list(lib.ingest(videos))
        bad = [r.error for r in results if r.status != "indexed"]
        assert not bad, bad
        real = next(r.video_id for r in results if Path(r.path).name == videos[0].name)
        return {"videos": len(results), "real_video_id": real, "stored_frames": lib.store.count_frames(),
                "ingest_s": round(time.perf_counter() - t, 1)}


def text_vs_image(host: str, port: int, queries: list[str], bodies: list[tuple[bytes, str]], real_id: str,
                  n: int) -> dict:
    c = Client(host, port)
    text_ms, image_ms, answered, right = [], [], 0, 0
    for i in range(n):
        body = json.dumps({"text": queries[i % len(queries)], "limit": 10}).encode()
        ms, answer = c.search(body, "application/json")
        text_ms.append(ms)
        answered += bool(answer["results"])
        ms, answer = c.search(*bodies[i % len(bodies)])
        image_ms.append(ms)
        right += bool(answer["results"]) and answer["results"][0]["video_id"] == real_id
    c.conn.close()
    text, image = _stats(text_ms), _stats(image_ms)
    return {"text": {**text, "with_results": f"{answered}/{n}"}, "image": {**image, "real_video_first": f"{right}/{n}"},
            "text_over_image_p50": round(text["p50_ms"] / image["p50_ms"], 2)}


def run_text_compare(a) -> None:
    common.check_product_ready()
    report: dict = {"machine": common.machine(), "settings": {"requests_each": a.text_compare, "limit": 10,
                                                             "clients": 1, "order": "text, image, text, ..."}}
    video = common.busy_video(0.25)
    clips = common.real_videos(None)[: a.text_clips]
    tmp = Path(tempfile.mkdtemp(prefix="vidsearch-bench-api-text-"))
    proc = None
    try:
        print(f"ingesting {1 + len(clips)} videos (default settings) in {tmp} ...", flush=True)
        report["build"] = build_small(tmp / "data", [video, *clips])
        report["build"]["files"] = [p.name for p in (video, *clips)]
        bodies = [multipart(j) for j in query_jpegs(video, tmp / "queries")]
        proc, host, port = start_server(tmp / "data", a.threads)
        report["models_loaded_s"] = wait_ready(host, port)
        queries = text_queries()
        warm = Client(host, port)
        t = time.perf_counter()
        warm.search(json.dumps({"text": queries[0]}).encode(), "application/json")
        report["first_text_search_ms"] = round((time.perf_counter() - t) * 1000, 1)
        t = time.perf_counter()
        warm.search(*bodies[0])
        report["first_image_search_ms"] = round((time.perf_counter() - t) * 1000, 1)
        for q, b in zip(queries[1:6], bodies[1:6]):
            warm.search(json.dumps({"text": q}).encode(), "application/json")
            warm.search(*b)
        warm.conn.close()
        report["loadavg_before"] = list(os.getloadavg())
        report["compare"] = text_vs_image(host, port, queries, bodies, report["build"]["real_video_id"], a.text_compare)
        print(json.dumps(report["compare"], indent=2), flush=True)
    finally:
        _finish(proc, report, tmp, keep=False)
    common.write_json("api_text", report)


# -- main ---------------------------------------------------------------------------------------
def run_compare_quantize(a) -> None:
    """Concurrent image search on two stores built from the same seed, one with int8 copies of the
    copy vectors (the default) and one without (the exact scan of earlier versions), served one at a
    time by the same command in alternation (round 1: int8, exact; round 2: ...), so that a drift of
    the machine's speed hits both alike."""
    if a.quick:
        a.frames, a.per_client = 10_000, 15
    common.check_product_ready()
    video = common.busy_video(0.25)
    tmp = Path(tempfile.mkdtemp(prefix="vidsearch-bench-quant-"))
    variants = {"int8": True, "exact": False}
    report: dict = {"machine": common.machine(), "settings": {"frames": a.frames, "clients": a.clients,
                    "per_client": a.per_client, "waitress_threads": a.threads, "rounds": a.rounds}, "builds": {},
                    "rounds": []}
    proc = None
    try:
        bodies = [multipart(j) for j in query_jpegs(video, tmp / "queries")]
        for name, quantize in variants.items():
            print(f"building {a.frames} frames ({name}) ...", flush=True)
            report["builds"][name] = build(tmp / f"data-{name}", a.frames, video, quantize=quantize)
        for r in range(a.rounds):
            row = {}
            for name in variants:
                proc, host, port = start_server(tmp / f"data-{name}", a.threads, VIDSEARCH_SEMANTIC="0")
                wait_ready(host, port)
                warm_up(host, port, bodies)
                real_id = report["builds"][name]["real_video"]["video_id"]
                row[name] = {"1_client": run_searches(host, port, bodies, real_id, 1, 30),
                             **measured_searches(proc, host, port, bodies, real_id, a.clients, a.per_client)}
                row[name]["loadavg"] = round(os.getloadavg()[0], 2)
                stop_server(proc)
                proc = None
                print(f"round {r + 1}, {name}:", row[name], flush=True)
            report["rounds"].append(row)
        report["summary"] = {name: {k: [row[name][k] for row in report["rounds"]]
                                    for k in ("p50_ms", "p95_ms", "throughput_rps", "server_cpu_ms_per_request")}
                             for name in variants}
    finally:
        _finish(proc, report, tmp, a.keep)
    common.write_json("api_quantize", report, quick=a.quick)
    print(json.dumps(report["summary"], indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=60, help="requests each concurrent client sends")
    ap.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    ap.add_argument("--quick", action="store_true", help="10k frames, 15 requests per client")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    ap.add_argument("--text-compare", type=int, metavar="N", help="only text vs image search, N requests each, "
                    "on a small index (see step 5)")
    ap.add_argument("--text-clips", type=int, default=6, help="real clips in the --text-compare index")
    ap.add_argument("--compare-quantize", action="store_true", help="only the concurrent image search, on two "
                    "stores of the same vectors, with and without int8 copies, served in turns for --rounds rounds")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.text_compare:
        run_text_compare(a)
        return
    if a.compare_quantize:
        run_compare_quantize(a)
        return
    if a.quick:
        a.frames, a.per_client = 10_000, 15
    common.check_product_ready()
    machine = common.machine()
    video = common.busy_video(0.25)
    tmp = Path(tempfile.mkdtemp(prefix="vidsearch-bench-api-"))
    report: dict = {"machine": machine, "targets": {"search_p95_ms_8_clients_100k": TARGET_P95_MS,
                                                    "page_load_s": TARGET_PAGE_S},
                    "settings": {"frames": a.frames, "clients": a.clients, "per_client": a.per_client,
                                 "waitress_threads": a.threads, "limit": 10, "query": "1280x720 JPEG frame"}}
    proc = None
    try:
        print(f"building {a.frames} stored frames in {tmp} ...", flush=True)
        report["build"] = build(tmp / "data", a.frames, video)
        real_id = report["build"]["real_video"]["video_id"]
        bodies = [multipart(j) for j in query_jpegs(video, tmp / "queries")]
        report["query_jpeg_kib"] = round(sum(len(b) for b, _ in bodies) / len(bodies) / 1024, 1)

        proc, host, port = start_server(tmp / "data", a.threads, VIDSEARCH_SEMANTIC="0")
        report["models_loaded_s"] = wait_ready(host, port)  # loaded in the background at start
        url = f"http://{host}:{port}/"
        print(f"server at {url}", flush=True)

        report["first_search_ms"] = warm_up(host, port, bodies)

        report["search_1_client"] = run_searches(host, port, bodies, real_id, 1, max(30, a.per_client))
        print("1 client:", report["search_1_client"], flush=True)
        report["search_concurrent"] = measured_searches(proc, host, port, bodies, real_id, a.clients, a.per_client)
        print(f"{a.clients} clients:", report["search_concurrent"], flush=True)
        report["page_http"] = page_http(host, port, 30)
        print("search page over HTTP (HTML + CSS + JS):", report["page_http"], flush=True)
        report["page_chromium"] = page_chromium(url, 10)
        print("search page in headless Chromium:", report["page_chromium"], flush=True)
        try:
            import psutil

            report["server_rss_mib"] = common.mib(psutil.Process(proc.pid).memory_info().rss)
        except Exception:
            pass

        p95 = report["search_concurrent"]["p95_ms"]
        page_s = max(report["page_http"]["p95_ms"],
                     report["page_chromium"].get("first_load_ms", 0.0)) / 1000
        report["verdict"] = {
            "search_p95_ms": p95, "search_p95_target_met": a.frames >= 100_000 and p95 <= TARGET_P95_MS,
            "page_load_worst_s": round(page_s, 3), "page_load_target_met": page_s <= TARGET_PAGE_S,
        }
    finally:
        _finish(proc, report, tmp, a.keep)
    common.write_json("api", report, quick=a.quick)
    print(json.dumps(report["verdict"], indent=2))


if __name__ == "__main__":
    main()
