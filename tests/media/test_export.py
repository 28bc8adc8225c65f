"""Clips and stills cut out of real files: copy or transcode, exact frames, safe temporary output."""
from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import frame_at as ffmpeg_frame_at
from vidsearch.media.errors import MediaError
from vidsearch.media.export import (COPY_SLACK, clip_file_name, export_clip, frame_file_name, frame_jpeg,
                                    plan_clip)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         check=True, capture_output=True).stdout
    return json.loads(out)


def duration(path: Path) -> float:
    return float(ffprobe(path)["format"]["duration"])


def first_frame(path: Path) -> np.ndarray:
    from PIL import Image

    png = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "image2pipe",
                          "-c:v", "png", "-"], check=True, capture_output=True).stdout
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.fixture
def keyed(video_factory):
    """8 s, 25 fps, a keyframe every second exactly (no scene-cut keyframes), AAC audio."""
    return video_factory("keyed.mp4", duration=8, extra_input=["-f", "lavfi", "-t", "8", "-i", "sine=f=440"],
                         extra_output=["-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac",
                                       "-shortest"])


def test_a_span_that_starts_on_a_keyframe_is_copied(keyed, tmp_path):
    plan = plan_clip(keyed, 3.0, 5.0)
    assert plan.mode == "copy" and plan.start == pytest.approx(3.0, abs=1e-3) and plan.audio == "aac"
    near = plan_clip(keyed, 3.0 + COPY_SLACK - 0.05, 5.0)  # a keyframe within the slack: copied from it
    assert near.mode == "copy" and near.start == pytest.approx(3.0, abs=1e-3)
    result = export_clip(keyed, 3.0, 5.0, tmp_path / "copy.mp4")
    info = ffprobe(result.path)
    assert [s["codec_name"] for s in info["streams"]] == ["h264", "aac"]
    assert duration(result.path) == pytest.approx(2.0, abs=0.2)  # B-frames: a few frames late
    # the copy's first picture is the source's frame at 3 s
    assert np.abs(first_frame(result.path) - png(ffmpeg_frame_at(keyed, 3.0, tmp_path / "at3.png"))).mean() < 3
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []


def test_a_span_between_keyframes_is_transcoded_from_its_exact_frame(keyed, tmp_path):
    plan = plan_clip(keyed, 2.52, 4.0)
    assert plan.mode == "transcode" and "no keyframe" in plan.why and plan.seek == pytest.approx(2.0, abs=1e-3)
    result = export_clip(keyed, 2.52, 4.0, tmp_path / "cut.mp4")
    video = [s for s in ffprobe(result.path)["streams"] if s["codec_type"] == "video"][0]
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert duration(result.path) == pytest.approx(1.48, abs=0.1)
    want = png(ffmpeg_frame_at(keyed, 2.52, tmp_path / "want.png"))  # decoded from the start
    other = png(ffmpeg_frame_at(keyed, 2.72, tmp_path / "other.png"))
    got = first_frame(result.path)
    assert np.abs(got - want).mean() < 4 < np.abs(got - other).mean()


def test_codecs_a_browser_cannot_play_are_transcoded(video_factory, tmp_path):
    avi = video_factory("old.avi", duration=3, codec="mpeg4")
    plan = plan_clip(avi, 0.0, 2.0)
    assert plan.mode == "transcode" and "mpeg4" in plan.why
    out = export_clip(avi, 0.0, 2.0, tmp_path / "old.mp4").path
    assert ffprobe(out)["streams"][0]["codec_name"] == "h264"
    full = video_factory("444.mp4", duration=2, extra_output=["-pix_fmt", "yuv444p"])
    assert plan_clip(full, 0.0, 1.0).mode == "transcode"


def test_an_open_descriptor_is_cut_even_after_its_path_is_replaced(keyed, video_factory, tmp_path):
    other = video_factory("other.mp4", duration=8, source="smptebars")
    fd = os.open(keyed, os.O_RDONLY)
    try:
        os.replace(other, keyed)  # the path now names another file: the descriptor still holds the first
        out = export_clip(fd, 1.0, 2.0, tmp_path / "fd.mp4").path
        jpeg, _ = frame_jpeg(fd, 1.0)
    finally:
        os.close(fd)
    from PIL import Image

    bars = png(ffmpeg_frame_at(keyed, 1.0, tmp_path / "bars.png"))
    assert np.abs(first_frame(out) - bars).mean() > 20  # not the swapped-in file's picture
    assert np.abs(np.asarray(Image.open(io.BytesIO(jpeg)), dtype=np.int16) - bars).mean() > 20


def test_a_still_is_the_exact_frame(keyed, tmp_path):
    from PIL import Image

    jpeg, stamp = frame_jpeg(keyed, 5.5)
    assert stamp == pytest.approx(5.52, abs=1e-3)  # 25 fps: the first frame at or after 5.5 s
    got = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.int16)
    assert got.shape == (240, 320, 3)
    want = png(ffmpeg_frame_at(keyed, 5.5, tmp_path / "want.png"))
    neighbour = png(ffmpeg_frame_at(keyed, 5.6, tmp_path / "near.png"))
    assert np.abs(got - want).mean() < 3 < np.abs(got - neighbour).mean()
    last, at = frame_jpeg(keyed, 8.0)  # past the last frame's start: the last frame
    assert at == pytest.approx(7.96, abs=1e-3) and last[:2] == b"\xff\xd8"


def test_failures_leave_no_partial_file(keyed, tmp_path):
    with pytest.raises(MediaError, match="MiB"):
        export_clip(keyed, 0.5, 7.5, tmp_path / "big.mp4", max_bytes=20_000)
    with pytest.raises(MediaError, match="took more than"):
        export_clip(keyed, 0.5, 7.5, tmp_path / "slow.mp4", timeout=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyed.mp4"]
    with pytest.raises(ValueError):
        plan_clip(keyed, 3.0, 3.0)
    with pytest.raises(MediaError, match="not found"):
        plan_clip(tmp_path / "nothing.mp4", 0, 1)


def test_file_names_say_the_video_and_the_time():
    assert clip_file_name("/cams/gate.mp4", 65, 75) == "gate_0-01-05_to_0-01-15.mp4"
    assert clip_file_name('we"ird name.avi', 3661.4, 3700) == "we_ird_name_1-01-01_to_1-01-40.mp4"
    assert frame_file_name("gate.mkv", 65.25) == "gate_0-01-05.250.jpg"
    assert frame_file_name("gate.mkv", 65) == "gate_0-01-05.jpg"


def test_cockatoo_is_cut_cleanly_where_fast_seek_is_corrupt(shared_videos, tmp_path):
    """cockatoo.mp4 lists non-IDR I-frames as keyframes (3.8 s, 7.2 s): a cut at 4.6 s must not start
    from there (ffmpeg's fast seek gives a corrupt picture, testvideos/NOTES.md)."""
    src = shared_videos / "cockatoo.mp4"
    plan = plan_clip(src, 4.6, 6.0)
    assert plan.mode == "transcode" and plan.seek < 3.7
    got = first_frame(export_clip(src, 4.6, 6.0, tmp_path / "c.mp4").path)
    want = png(ffmpeg_frame_at(src, 4.6, tmp_path / "want.png"))
    assert np.abs(got - want).mean() < 6
    jpeg, _ = frame_jpeg(src, 9.2)
    from PIL import Image

    still = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.int16)
    assert np.abs(still - png(ffmpeg_frame_at(src, 9.2, tmp_path / "w2.png"))).mean() < 6
