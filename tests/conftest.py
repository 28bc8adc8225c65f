"""Shared fixtures: videos the tests make with ffmpeg, and the real clips in ../shared when present."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO.parent / "shared" / "testvideos"


def _need_ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("ffmpeg is not installed (scripts/install installs it)")
    return exe


def make_video(
    path: Path,
    *,
    duration: float | None = None,
    size: str = "320x240",
    fps: int = 25,
    source: str = "testsrc2",
    codec: str = "libx264",
    extra_input: list[str] | None = None,
    extra_output: list[str] | None = None,
    vf: str | None = None,
) -> Path:
    """Render a synthetic video with ffmpeg's lavfi sources. ``source`` is a lavfi source name
    or a full lavfi graph (containing ``=``)."""
    ffmpeg = _need_ffmpeg()
    if "=" in source:  # a full graph: bounded by its own options, or by ``duration`` when given
        graph, limit = source, duration
    else:
        graph, limit = f"{source}=size={size}:rate={fps}", duration or 4.0
    # -t bounds the input, also for sources that run forever (life, mandelbrot)
    bound = ["-t", str(limit)] if limit else []
    cmd = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", *bound, "-i", graph, *(extra_input or [])]
    if vf:
        cmd += ["-vf", vf]
    if codec:
        cmd += ["-c:v", codec]
    if codec == "libx264":
        cmd += ["-pix_fmt", "yuv420p", "-preset", "veryfast"]
    cmd += [*(extra_output or []), str(path)]
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture
def video_factory(tmp_path):
    """``video_factory("name.mp4", duration=..., ...)`` makes a video in the test's tmp folder."""
    counter = {"n": 0}

    def factory(name: str | None = None, **kw) -> Path:
        counter["n"] += 1
        return make_video(tmp_path / (name or f"v{counter['n']}.mp4"), **kw)

    return factory


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    """The folder of real clips; the test is skipped when this checkout has no ../shared."""
    if not (SHARED_VIDEOS / "MANIFEST.tsv").exists():
        pytest.skip(f"real test clips not found at {SHARED_VIDEOS} (only present on the team's machines)")
    return SHARED_VIDEOS


RANDOM_SOURCES = ("cellauto", "life")
SCENE_SEED = 7


def make_scenes(path: Path, sources: list[str], *, seconds: float = 4.0, size: str = "320x240", fps: int = 25) -> Path:
    """A video of several shots with hard cuts: one lavfi source per shot, ``seconds`` each; a source
    may carry its own options (``cellauto=seed=1``). lavfi's ``cellauto`` and ``life`` are random
    unless seeded: a bare one gets :data:`SCENE_SEED`, so that a test sees the same video every run."""
    ffmpeg = _need_ffmpeg()
    cmd = [ffmpeg, "-v", "error", "-y"]
    for src in sources:
        if src in RANDOM_SOURCES:
            src = f"{src}=seed={SCENE_SEED}"
        cmd += ["-f", "lavfi", "-t", str(seconds), "-i", f"{src}{':' if '=' in src else '='}size={size}:rate={fps}"]
    n = len(sources)
    graph = "".join(f"[{i}:v]format=yuv420p,setsar=1[v{i}];" for i in range(n))
    graph += "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[out]"
    cmd += ["-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", str(path)]
    subprocess.run(cmd, check=True)
    return path


def frame_at(video: Path, t: float, out: Path) -> Path:
    """The frame at ``t`` seconds, decoded from the start (no fast seek), as a PNG."""
    ffmpeg = _need_ffmpeg()
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(video), "-ss", str(t), "-frames:v", "1", str(out)],
                   check=True)
    return out


@pytest.fixture(scope="session")
def encoders():
    """The real encoders, loaded once for the whole test session."""
    from vidsearch.config import Settings
    from vidsearch.models.encoders import Encoders

    return Encoders(Settings(data_dir=Path("/nonexistent")))


@pytest.fixture
def settings(tmp_path):
    from vidsearch.config import Settings

    return Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data")})
