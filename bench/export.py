"""Export of a 10-s span of a 720p file: stream copy and transcode, against a plain ffmpeg copy.

Makes its own input (``bench/out/videos/export_720p.mp4``: 40 s of 1280x720 at 30 fps, H.264
``veryfast`` with a keyframe every 2 s, AAC audio), then, in alternation, ``--repeat`` times each:

- baseline: ``ffmpeg -ss K -i src -t 10 -c copy`` (no checks, no faststart);
- copy: ``vidsearch.media.export.export_clip`` from a keyframe (plan + copy + faststart);
- transcode: the same 10 s from 1 s after that keyframe (plan + libx264 ultrafast + AAC);
- still: ``frame_jpeg`` at an instant between keyframes (exact decode);
- playable copy: ``make_playable_copy`` of a 10-s MPEG-4 Part 2 AVI of the same picture.

Wall seconds (median), and each as a ratio to the baseline of the same run. Targets (issue 15):
copy <= 1 s, transcode <= 5 s on 2 cores. Output: ``bench/out/export.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, VIDEO_CACHE, machine, machine_line  # noqa: E402


def make_input(path: Path, seconds: int = 40) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-vf", "noise=alls=6:allf=t",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "60", "-keyint_min", "60",
                    "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(tmp)], check=True)
    tmp.replace(path)
    return path


CPU: dict[str, list[float]] = {}


def timed(fn, name: str = "") -> float:
    """Wall seconds of ``fn()``; the CPU seconds of the ffmpeg children it ran go to CPU[name]
    (the figure that the load of other jobs does not inflate as much)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    fn()
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(name, []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--span", type=float, default=10.0)
    args = ap.parse_args()

    from vidsearch.media.export import export_clip, frame_jpeg, plan_clip
    from vidsearch.media.playable import inspect, make_playable_copy

    src = make_input(VIDEO_CACHE / "export_720p.mp4")
    avi = VIDEO_CACHE / "export_720p_10s.avi"
    if not avi.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "10", "-t", "10", "-i", str(src), "-c:v", "mpeg4",
                        "-q:v", "4", "-c:a", "mp3", str(avi)], check=True)
    key = 10.0
    span = args.span
    assert plan_clip(src, key, key + span).mode == "copy"
    assert plan_clip(src, key + 1, key + 1 + span).mode == "transcode"
    m = machine()
    times: dict[str, list[float]] = {k: [] for k in ("baseline", "copy", "transcode", "still", "playable_copy")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fd = os.open(src, os.O_RDONLY)
        try:
            for i in range(args.repeat):
                times["baseline"].append(timed(lambda: subprocess.run(
                    ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", str(key), "-i", str(src), "-t", str(span),
                     "-c", "copy", str(out / "base.mp4")], check=True), "baseline"))
                times["copy"].append(timed(lambda: export_clip(fd, key, key + span, out / "copy.mp4"), "copy"))
                times["transcode"].append(timed(lambda: export_clip(fd, key + 1, key + 1 + span, out / "cut.mp4"), "transcode"))
                times["still"].append(timed(lambda: frame_jpeg(fd, key + 1.234), "still"))
                streams = inspect(avi)
                times["playable_copy"].append(timed(lambda: make_playable_copy(
                    avi, out / f"play{i}.mp4", streams=streams, duration=10.0), "playable_copy"))
                print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
        finally:
            os.close(fd)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["baseline"]
    report = {"machine": m, "span_s": span, "input": "1280x720 30 fps H.264 veryfast, keyframe every 2 s, AAC",
              "repeat": args.repeat, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
              "seconds": times, "median_s": med,
              "ffmpeg_cpu_s_median": {k: statistics.median(v) for k, v in CPU.items()}, "ratio_to_baseline": {k: v / base for k, v in med.items()},
              "targets": {"copy <= 1 s": med["copy"] <= 1.0, "transcode <= 5 s": med["transcode"] <= 5.0}}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "export.json").write_text(json.dumps(report, indent=2))
    print(machine_line(m), "| load at end", report["loadavg_at_end"])
    for k, v in med.items():
        print(f"{k:14s} {v:6.2f} s  {v / base:6.1f}x the plain ffmpeg copy; ffmpeg CPU "
              f"{statistics.median(CPU[k]):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
