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
    duration: float = 4.0,
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
    graph = source if "=" in source else f"{source}=size={size}:rate={fps}:duration={duration}"
    cmd = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", graph, *(extra_input or [])]
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
