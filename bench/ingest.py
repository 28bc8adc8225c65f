"""Ingest speed and memory: busy and static synthetic 720p30 videos and the real clips.

For each case, in the same run:

1. decode-only floor: ``ffmpeg -v error -i FILE -f null -`` (default threads), wall seconds, measured
   just before and just after the ingest (the machine is shared; the mean of the two is the floor);
2. full ingest through ``vidsearch.library.Library`` (default settings: SSCD copy descriptor AND
   EfficientNet semantic embedding) into a fresh temporary data folder, in a CHILD process so that
   peak RSS (``ru_maxrss``, models included) belongs to that ingest alone. Models are loaded and
   warmed up before the clock starts (load time reported apart). Reported: wall, x real time,
   per-stage seconds from ``IngestResult.times`` and their rates, samples/keyframes, peak RSS;
3. ratios: ingest wall / decode floor; busy wall / static wall at equal length.

Cases (full run): busy 10 min, static 10 min, the real clips (``--videos``, default
``<repo>/../shared/testvideos``), busy 10 min with the copy descriptor only (``VIDSEARCH_SEMANTIC=0``:
where the time goes), and busy 20 and 60 min for peak-RSS growth (``--no-hour`` skips 60 min).
The 20/60-min videos repeat the 10-minute cycle of distinct scenes (see ``bench/common.py``).

    .venv/bin/python bench/ingest.py            # full (about 30-40 min on 2 cores, videos cached)
    .venv/bin/python bench/ingest.py --quick    # smoke: 15-s videos and 3 small real clips
    .venv/bin/python bench/ingest.py --compare --minutes 3   # issue 17: keyframes every 250 / 30 frames,
                                                 # shortcuts off / decode only / all / all without OCR
    .venv/bin/python bench/ingest.py --compare ocr_every ocr_interval --minutes 3   # OCR every sample / every 2 s
    .venv/bin/python bench/ingest.py --compare batch32 batch4 batch2 --minutes 3    # encoder batch sizes
    .venv/bin/python bench/ingest.py --compare after after_backoff after_all --minutes 3   # + OCR back-off,
                                                 # + no B-frames where nothing refers to them
    .venv/bin/python bench/ingest.py --compare after_all_program after_all --minutes 3   # Tesseract as a
                                                 # program / in this process (the default)
    .venv/bin/python bench/ingest.py --watchlists 100 --minutes 2   # issue 16: the busy video without,
                                                 # with, with, without 100 watchlists, in one child

``--watchlists N``: N image and clip watchlists made as ``bench/watchlists.py`` makes them (edited
stills and clips of its SOURCES among the shared clips: other footage, so the busy video raises no
alert; default thresholds), in one child process with the models loaded once. The busy video is
ingested without them, with them, with them, without them (the order cancels a drift of the shared
machine's load); each ingest is timed whole and its watchlist check (the runner's ``on_indexed``
hook) apart. VIDSEARCH_OCR is 0 unless set (as in ``bench/watchlists.py``; OCR would only make the
ingest longer and the ratio smaller). Output ``bench/out/ingest_watchlists.json``.

Output: ``bench/out/ingest.json`` (``ingest.quick.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGETS = {"x_realtime": 10.0, "vs_decode_floor": 1.5, "static_speedup": 3.0, "peak_rss_gib": 2.0}
# --compare (issue 17): the busy video with a keyframe every 250 frames (archive) and every 30 (camera),
# each under these settings, in one run; the targets are ingest wall / decode floor
COMPARE_TARGETS = {"archive": 0.8, "camera": 0.4, "peak_rss_mib": 1024}
SHORTCUTS_OFF = {"VIDSEARCH_KEYFRAME_SAMPLING": "0", "VIDSEARCH_SKIP_LOOP_FILTER": "0",
                 "VIDSEARCH_SEMANTIC_INT8": "0", "VIDSEARCH_OCR_RETRY_INVERTED": "1", "VIDSEARCH_OCR_INTERVAL": "0"}
SHORTCUTS_ON = {"VIDSEARCH_KEYFRAME_SAMPLING": "1", "VIDSEARCH_SKIP_LOOP_FILTER": "1",
                "VIDSEARCH_SEMANTIC_INT8": "1", "VIDSEARCH_OCR_RETRY_INVERTED": "0"}
CONFIGS = {
    "before": SHORTCUTS_OFF,  # the defaults before issue 17
    "decode": {**SHORTCUTS_OFF, "VIDSEARCH_KEYFRAME_SAMPLING": "1", "VIDSEARCH_SKIP_LOOP_FILTER": "1"},
    "after": SHORTCUTS_ON,  # every shortcut
    "after_no_ocr": {**SHORTCUTS_ON, "VIDSEARCH_OCR": "0"},  # where the rest of the time goes
    "after_backoff": {**SHORTCUTS_ON, "VIDSEARCH_OCR_BACKOFF": "8"},  # + OCR backing off to every 8 s
    "after_all": {**SHORTCUTS_ON, "VIDSEARCH_OCR_BACKOFF": "8", "VIDSEARCH_SKIP_BFRAMES": "1"},  # + no B-frames
    # every shortcut, Tesseract as a program (the only way before libtesseract was read in-process)
    "after_all_program": {**SHORTCUTS_ON, "VIDSEARCH_OCR_BACKOFF": "8", "VIDSEARCH_SKIP_BFRAMES": "1",
                          "VIDSEARCH_OCR_IN_PROCESS": "0"},
    "ocr_every": {"VIDSEARCH_OCR_INTERVAL": "0"},  # the defaults, but OCR on every changed sample (before)
    "ocr_interval": {"VIDSEARCH_OCR_INTERVAL": "2"},  # the defaults: at most one OCR read per 2 s of a video
    "batch32": {"VIDSEARCH_BATCH_SIZE": "32"},  # encoder batches of 32 frames (the default before)
    "batch8": {"VIDSEARCH_BATCH_SIZE": "8"},
    "batch4": {"VIDSEARCH_BATCH_SIZE": "4"},
    "batch2": {"VIDSEARCH_BATCH_SIZE": "2"},
}
COMPARE_ALL = ("before", "decode", "after", "after_no_ocr")  # --compare with no config named
STAGES = ("probe", "decode", "segment", "embed", "write")  # and whatever else IngestResult.times names
OUT_NAME = "ingest"


# ------------------------------------------------------------------------------------------
# Child: one Library, ingest the given files, report.


def child(data_dir: str, out_json: str, files: list[str], encoder_bench: bool) -> None:
    sys.path.insert(0, str(common.REPO))
    import numpy as np

    t0 = time.perf_counter()
    from vidsearch.config import Settings
    from vidsearch.library import Library

    settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": data_dir})
    t_import = time.perf_counter() - t0
    report: dict = {"settings": {k: str(v) for k, v in settings.__dict__.items() if k != "extra"}}
    with Library(settings) as lib:
        t0 = time.perf_counter()
        warm = [np.zeros((224, 398, 3), np.uint8)] * 2
        lib.encoders.embed(warm)  # loads SSCD (+ EfficientNet) before the clock starts
        report["import_s"] = round(t_import, 2)
        report["model_load_s"] = round(time.perf_counter() - t0, 2)
        report["rss_after_models_mib"] = common.mib(common.peak_rss_self())
        results = []
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t_all = time.perf_counter()
        for f in files:
            t1 = time.perf_counter()
            (r,) = list(lib.ingest([f], force=True))
            wall = time.perf_counter() - t1
            d = r.to_dict()
            d["wall_s"] = wall
            d["peak_rss_so_far_mib"] = common.mib(common.peak_rss_self())
            results.append(d)
        report["wall_s"] = time.perf_counter() - t_all
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        report["cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)  # all threads
        report["results"] = results
        report["peak_rss_mib"] = common.mib(common.peak_rss_self())  # the ingest's peak, models included
        if encoder_bench:
            report["encoders"] = _encoder_bench(lib.encoders, np)
            report["peak_rss_after_encoder_bench_mib"] = common.mib(common.peak_rss_self())
    Path(out_json).write_text(json.dumps(report, default=float))


def _encoder_bench(encoders, np) -> dict:
    """Throughput of each encoder alone on 96 frames of 224x398 (a 16:9 frame at the ingest size)."""
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (224, 398, 3), dtype=np.uint8) for _ in range(96)]
    out = {}
    for name in ("copy", "semantic"):
        enc = getattr(encoders, name)
        if enc is None:
            continue
        enc.embed(imgs[:8])
        t = time.perf_counter()
        enc.embed(imgs)
        dt = time.perf_counter() - t
        out[name] = {"frames": len(imgs), "seconds": round(dt, 2), "frames_per_s": round(len(imgs) / dt, 1)}
    return out


def child_watchlists(data_dir: str, out_json: str, video: str, queries_json: str) -> None:
    """Issue 16: ``video`` ingested without, with, with, without the watchlists of ``queries_json``."""
    sys.path.insert(0, str(common.REPO))
    import numpy as np

    from bench.watchlists import add_watchlists, time_checks
    from vidsearch.config import Settings
    from vidsearch.library import Library

    queries = json.loads(Path(queries_json).read_text())
    settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": data_dir})
    report: dict = {"passes": []}
    with Library(settings) as lib:
        lib.encoders.embed([np.zeros((224, 398, 3), np.uint8)] * 2)  # models loaded before the clock starts
        check_s = time_checks(lib)
        made: list = []
        for label in ("without", "with", "with", "without"):
            if label == "with" and not made:
                t0 = time.perf_counter()
                made = add_watchlists(lib, queries)
                report["create_s"] = round(time.perf_counter() - t0, 2)
            elif label == "without" and made:
                for w, _ in made:
                    lib.watchlists.remove(w.name)
                made = []
            check_s.clear()
            alerts_before = len(lib.watchlists.alerts(limit=100000))
            t0 = time.perf_counter()
            (r,) = list(lib.ingest([video], force=True))
            wall = time.perf_counter() - t0
            if r.status != "indexed":
                raise RuntimeError(f"ingest failed: {r.error}")
            report["passes"].append({"label": label, "watchlists": len(lib.watchlists.list()),
                                     "wall_s": round(wall, 3), "check_s": round(sum(check_s), 4),
                                     "alerts": len(lib.watchlists.alerts(limit=100000)) - alerts_before,
                                     "times": r.times, "keyframes": r.keyframes, "duration": r.duration})
            print(f"  [{label}] {wall:.2f} s, check {sum(check_s) * 1000:.0f} ms", flush=True)
            lib.store.delete_video(r.video_id)  # each pass writes the video afresh
    Path(out_json).write_text(json.dumps(report, default=float))


def with_watchlists(m: dict, minutes: float, count: int, videos: str | None) -> dict:
    """Issue 16: ingest overhead of ``count`` watchlists on the busy video, one child, ABBA order."""
    sys.path.insert(0, str(common.REPO))
    from bench.watchlists import SOURCES, make_queries

    label = common._label(minutes)
    busy = common.busy_video(minutes)
    real = {p.name: p for p in common.real_videos(videos, required=True)}
    tmp = Path(tempfile.mkdtemp(prefix="vidsearch-bench-watchlists-"))
    try:
        queries = make_queries({n: real[n] for n in SOURCES}, tmp, print)
        queries = [queries[i % len(queries)] for i in range(count)]  # (more than made: repeats)
        qfile = tmp / "queries.json"
        qfile.write_text(json.dumps(queries, default=str))
        out_json = tmp / "child.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-watchlists", str(tmp / "data"),
               str(out_json), str(busy), str(qfile)]
        load_start = [round(x, 2) for x in os.getloadavg()]
        env = {**os.environ, "VIDSEARCH_OCR": os.environ.get("VIDSEARCH_OCR", "0")}
        subprocess.run(cmd, cwd=common.REPO, env=env, check=True, timeout=3600)
        rep = json.loads(out_json.read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    passes = rep["passes"]
    without = [p["wall_s"] for p in passes if p["label"] == "without"]
    withw = [p["wall_s"] for p in passes if p["label"] == "with"]
    checks = [p["check_s"] for p in passes if p["label"] == "with"]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    summary = {
        "target_with_vs_without": 1.05,
        "watchlists": count,
        "video": f"busy_{label}",
        "wall_s_without_mean": round(mean(without), 3),
        "wall_s_with_mean": round(mean(withw), 3),
        "with_vs_without": common.ratio(mean(withw), mean(without)),
        "check_s_with_mean": round(mean(checks), 4),
        "check_share_of_ingest": round(mean(checks) / mean(withw), 5),
        "alerts": sum(p["alerts"] for p in passes),
        "create_s": rep.get("create_s"),
    }
    out = {"machine": {**m, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
           "loadavg_start": load_start, "env": {"VIDSEARCH_OCR": env["VIDSEARCH_OCR"]},
           "summary": summary, "passes": passes}
    print(json.dumps(summary, indent=2))
    common.write_json("ingest_watchlists", out)
    return out


# ------------------------------------------------------------------------------------------
# Parent


def decode_floor(path: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ffmpeg decoding every stream of ``path`` to nothing."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([common.need_ffmpeg(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                       stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:  # (stderr is dropped otherwise: the null muxer warns about dts on some clips)
        raise RuntimeError(f"ffmpeg could not decode {path}: {p.stderr[-500:]}")
    wall = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)


def run_case(name: str, files: list[Path], *, env: dict | None = None, encoder_bench: bool = False,
             timeout: float = 3600, floor: bool = True) -> dict:
    """One child ingest of ``files``; ``floor=False`` skips the decode-only floor (memory-only cases)."""
    print(f"[{name}] {len(files)} file(s)", flush=True)
    load_start = [round(x, 2) for x in os.getloadavg()]
    fb = [decode_floor(f) for f in files] if floor else [(0.0, 0.0)]
    floor_before, floor_cpu_before = sum(w for w, _ in fb), sum(c for _, c in fb)
    tmp = Path(tempfile.mkdtemp(prefix=f"vidsearch-bench-{name}-"))
    out_json = tmp / "child.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(tmp / "data"), str(out_json),
           *map(str, files)]
    if encoder_bench:
        cmd.append("--encoder-bench")
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=common.REPO, env={**os.environ, **(env or {})})
    with common.PeakRSS(proc.pid) as sampler:  # (covers the encoder micro-benchmark too, when asked)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = "timeout"
    child_wall = time.perf_counter() - t
    fa = [decode_floor(f) for f in files] if floor else [(0.0, 0.0)]
    floor_after, floor_cpu_after = sum(w for w, _ in fa), sum(c for _, c in fa)
    if rc != 0 or not out_json.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"[{name}] child failed: rc={rc}", flush=True)
        return {"name": name, "error": f"child exited with {rc}"}
    rep = json.loads(out_json.read_text())
    shutil.rmtree(tmp, ignore_errors=True)

    res = rep["results"]
    failed = [r for r in res if r["status"] != "indexed"]
    duration = sum(r["duration"] for r in res if r["status"] == "indexed")
    wall = rep["wall_s"]
    names = list(STAGES) + sorted({k for r in res for k in r["times"]} - set(STAGES) - {"total"})  # e.g. ocr
    times = {s: sum(r["times"].get(s, 0.0) for r in res) for s in names}
    samples = sum(r["samples"] for r in res)
    keyframes = sum(r["keyframes"] for r in res)
    floor = (floor_before + floor_after) / 2 or None
    case = {
        "name": name,
        "files": [str(f) for f in files],
        "env": env or {},
        "video_seconds": round(duration, 2),
        "failed": [{"path": r["path"], "error": r["error"]} for r in failed],
        "decode_floor_s": {"before": round(floor_before, 2), "after": round(floor_after, 2), "mean": round(floor, 2)}
        if floor else None,
        "decode_floor_x_realtime": round(duration / floor, 1) if floor else None,
        "decode_floor_cpu_s": round((floor_cpu_before + floor_cpu_after) / 2, 2) if floor else None,
        "ingest_wall_s": round(wall, 2),
        "ingest_cpu_s": round(rep["cpu_s"], 2),
        "cpu_vs_decode_floor_cpu": common.ratio(rep["cpu_s"], (floor_cpu_before + floor_cpu_after) / 2),
        "x_realtime": round(duration / wall, 2) if wall else None,
        "wall_vs_decode_floor": common.ratio(wall, floor),
        "stages_s": {k: round(v, 2) for k, v in times.items()},
        "stages_share": {k: round(v / wall, 3) for k, v in times.items()} if wall else {},
        "other_s": round(wall - sum(times.values()), 2),
        "samples": samples,
        "keyframes": keyframes,
        "keyframe_fraction": round(keyframes / samples, 3) if samples else None,
        "segments": sum(r["segments"] for r in res),
        "rates": {
            "decode_samples_per_s": round(samples / times["decode"], 1) if times["decode"] else None,
            "decode_video_s_per_s": round(duration / times["decode"], 1) if times["decode"] else None,
            "segment_samples_per_s": round(samples / times["segment"], 1) if times["segment"] else None,
            "embed_keyframes_per_s": round(keyframes / times["embed"], 1) if times["embed"] else None,
            "write_keyframes_per_s": round(keyframes / times["write"], 1) if times["write"] else None,
            **{f"{k}_keyframes_per_s": round(keyframes / times[k], 1) for k in names if k not in STAGES and times[k]},
        },
        "model_load_s": rep["model_load_s"],
        "rss_after_models_mib": rep["rss_after_models_mib"],
        "peak_rss_mib": rep["peak_rss_mib"],
        "peak_rss_sampled_mib": common.mib(sampler.peak),
        "child_wall_s": round(child_wall, 2),
        "loadavg": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "settings": rep["settings"],
        "per_file": [{k: r[k] for k in ("path", "status", "error", "duration", "samples", "keyframes", "segments",
                                        "times", "wall_s", "peak_rss_so_far_mib")} for r in res],
    }
    if "encoders" in rep:
        case["encoders_alone"] = rep["encoders"]
    print(f"[{name}] {duration:.0f} s of video in {wall:.1f} s = {case['x_realtime']}x real time; "
          f"decode floor {floor or 0:.1f} s (x{case['wall_vs_decode_floor']}); stages {case['stages_s']}; "
          f"keyframes {keyframes}/{samples}; peak RSS {case['peak_rss_mib']} MiB", flush=True)
    return case


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 15-s videos, 3 real clips")
    ap.add_argument("--videos", help="folder of real clips (default <repo>/../shared/testvideos)")
    ap.add_argument("--minutes", type=int, default=10, help="length of the busy/static videos")
    ap.add_argument("--no-hour", action="store_true", help="skip the 60-min busy video (RSS at 10 and 20 min only)")
    ap.add_argument("--only", nargs="+", choices=["busy", "static", "real", "copy_only", "long", "hour"],
                    help="run only these cases (default: all)")
    ap.add_argument("--out-name", default="ingest", help="output file name in bench/out (default ingest)")
    ap.add_argument("--compare", nargs="*", choices=list(CONFIGS), metavar="CONFIG",
                    help="issue 17: the busy video with a keyframe every 250 and every 30 frames (--minutes long), "
                         f"each under these settings ({', '.join(CONFIGS)}; none named: {', '.join(COMPARE_ALL)}), "
                         "ratios to the "
                         "decode floor; output bench/out/ingest_compare.json")
    ap.add_argument("--watchlists", type=int, metavar="N",
                    help="issue 16: the busy video (--minutes long) without, with, with, without N image and "
                         "clip watchlists of other footage, one child; output bench/out/ingest_watchlists.json")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--child-watchlists", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--encoder-bench", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        data_dir, out_json, *files = a.child
        child(data_dir, out_json, files, a.encoder_bench)
        return
    if a.child_watchlists:
        child_watchlists(*a.child_watchlists)
        return

    global OUT_NAME
    OUT_NAME = a.out_name
    common.check_product_ready()
    m = common.machine()
    print(common.machine_line(m), flush=True)
    if a.compare is not None:
        compare(m, a.minutes, a.compare or list(COMPARE_ALL))
        return
    if a.watchlists:
        with_watchlists(m, a.minutes, a.watchlists, a.videos)
        return
    minutes = 0.25 if a.quick else a.minutes
    busy = common.busy_video(minutes)
    static = common.static_video(minutes)
    real = common.real_videos(a.videos)
    if a.quick:
        small = {"part_0.mp4", "example2.mp4", "fire2.mp4"}
        real = [p for p in real if p.name in small] or real[:3]

    label = common._label(minutes)
    plan = [("busy", f"busy_{label}", lambda: [busy], {"encoder_bench": True}),
            ("static", f"static_{label}", lambda: [static], {})]
    if real:
        plan.append(("real", "real_clips", lambda: real, {}))
    if not a.quick:
        plan.append(("copy_only", f"busy_{label}_copy_only", lambda: [busy], {"env": {"VIDSEARCH_SEMANTIC": "0"}}))
        plan.append(("long", f"busy_{2 * minutes}min", lambda: [common.busy_video(2 * minutes)], {}))
        if not a.no_hour:  # memory only: no decode floor (it would add 2 x ~5 min of ffmpeg)
            plan.append(("hour", "busy_60min", lambda: [common.busy_video(60)], {"timeout": 3 * 3600, "floor": False}))
    if a.only:
        plan = [p for p in plan if p[0] in a.only]

    cases = []
    for _key, name, files, kw in plan:
        cases.append(run_case(name, files(), **kw))
        _write(m, cases, label, a.quick)  # after every case, so an interrupted run keeps what it measured
    print(json.dumps(_summary(cases, label), indent=2))


def compare(m: dict, minutes: float, configs: list[str]) -> None:
    """Issue 17: archive-style and camera-style busy video, each under ``configs``, one run."""
    label = common._label(minutes)
    videos = {"archive": common.busy_video(minutes, gop=250), "camera": common.busy_video(minutes, gop=30)}
    cases = []
    for kind, video in videos.items():
        for cfg in configs:
            case = run_case(f"{kind}_{label}_{cfg}", [video], env=CONFIGS[cfg])
            case["video"], case["config"] = kind, cfg
            cases.append(case)
            summary = {
                "targets": COMPARE_TARGETS,
                "wall_vs_decode_floor": {c["name"]: c.get("wall_vs_decode_floor") for c in cases},
                "x_realtime": {c["name"]: c.get("x_realtime") for c in cases},
                "peak_rss_mib": {c["name"]: c.get("peak_rss_mib") for c in cases},
            }
            common.write_json("ingest_compare", {"machine": {**m, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
                                                 "summary": summary, "cases": cases})
    print(json.dumps(summary, indent=2))


def _summary(cases: list[dict], label: str) -> dict:
    by = {c["name"]: c for c in cases}
    b, s = by.get(f"busy_{label}", {}), by.get(f"static_{label}", {})
    return {
        "targets": TARGETS,
        "static_speedup_vs_busy": common.ratio(b.get("ingest_wall_s"), s.get("ingest_wall_s")),
        "static_cpu_speedup_vs_busy": common.ratio(b.get("ingest_cpu_s"), s.get("ingest_cpu_s")),
        "static_decode_floor_speedup_vs_busy": common.ratio((b.get("decode_floor_s") or {}).get("mean"),
                                                            (s.get("decode_floor_s") or {}).get("mean")),
        "peak_rss_by_length_mib": {c["name"]: c.get("peak_rss_mib") for c in cases if c["name"].startswith("busy_")
                                   and "copy_only" not in c["name"]},
    }


def _write(m: dict, cases: list[dict], label: str, quick: bool) -> None:
    m = {**m, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]}
    common.write_json(OUT_NAME, {"machine": m, "summary": _summary(cases, label), "cases": cases}, quick=quick)


if __name__ == "__main__":
    main()
