"""probe(): synthetic files in every container we expect, the trap cases, bad inputs, real clips."""
from __future__ import annotations

import csv
import re
import subprocess

import pytest

from vidsearch.media import MediaError, probe

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
FAST_VPX = ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"]
# name, make_video arguments, container, codec: 2 s, 25 fps, 64x48
FORMATS = [
    ("a.mp4", {}, MP4, "h264"),
    ("a.mov", {}, MP4, "h264"),
    ("a.mkv", {}, "matroska,webm", "h264"),
    ("vp8.webm", {"codec": "libvpx", "extra_output": FAST_VPX}, "matroska,webm", "vp8"),
    ("vp9.webm", {"codec": "libvpx-vp9", "extra_output": ["-cpu-used", "4", "-b:v", "200k"]}, "matroska,webm", "vp9"),
    ("a.avi", {"codec": "mpeg4", "extra_output": ["-bf", "2", "-q:v", "3"]}, "avi", "mpeg4"),  # with B-frames
    ("a.gif", {"codec": None}, "gif", "gif"),
]


def make_vfr(video_factory, source="testsrc2", extra_output=()):
    """4 s: 25 fps for the first second, then every 5th frame (5 fps), at their original times. No
    B-frames: with them, ffmpeg 5.1's mp4 muxer writes a stream duration 0.3 s short."""
    return video_factory("vfr.mp4", duration=4, size="64x48", source=source, vf="select='lt(n,25)+not(mod(n,5))'",
                         extra_output=["-vsync", "vfr", "-bf", "0", *extra_output])


@pytest.mark.parametrize("name, kwargs, container, codec", FORMATS, ids=[f[0] for f in FORMATS])
def test_formats(video_factory, name, kwargs, container, codec):
    info = probe(video_factory(name, duration=2, size="64x48", fps=25, **kwargs))
    assert (info.container, info.codec) == (container, codec)
    assert info.duration == pytest.approx(2.0, abs=0.01)
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == 50
    assert (info.width, info.height, info.display_width, info.display_height) == (64, 48, 64, 48)
    assert (info.rotation, info.sample_aspect, info.variable_frame_rate) == (0, 1.0, False)
    assert (info.video_streams, info.audio_streams, info.subtitle_streams) == (1, 0, 0)
    assert info.creation_time is None


def make_rotated(video_factory, size):
    """A video whose display matrix says rotate (ffmpeg 5.1 has no -display_rotation)."""
    plain = video_factory("plain.mp4", duration=1, size=size)
    rotated = plain.with_name("rotated.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(rotated)], check=True)
    return rotated


def test_rotation_from_the_display_matrix(video_factory):
    info = probe(make_rotated(video_factory, "64x48"))
    # ffmpeg 5.1 writes rotate=90 as a matrix that ffmpeg's own autorotation shows turned 90 degrees
    # counter-clockwise, i.e. 270 clockwise; test_decode checks the pixels against ffmpeg's.
    assert info.rotation == 270
    assert (info.width, info.height, info.display_width, info.display_height) == (64, 48, 48, 64)


def test_anamorphic_pixels_widen_the_display(video_factory):
    info = probe(video_factory("sar.mp4", duration=1, size="160x120", vf="setsar=2"))
    assert info.sample_aspect == 2.0
    assert (info.width, info.height, info.display_width, info.display_height) == (160, 120, 320, 120)


def test_variable_frame_rate(video_factory):
    info = probe(make_vfr(video_factory))
    assert info.variable_frame_rate
    assert info.frame_count == 25 + 15
    assert info.duration == pytest.approx(3.84)  # last frame at 3.8 s, lasting 0.04 s


def test_first_of_several_video_streams_is_described(video_factory):
    path = video_factory(
        "multi.mp4", source="testsrc2=size=64x48:rate=25:duration=2",
        extra_input=["-f", "lavfi", "-i", "testsrc2=size=96x54:rate=30:duration=3",
                     "-f", "lavfi", "-i", "sine=duration=3"],
        extra_output=["-map", "0:v", "-map", "1:v", "-map", "2:a", "-metadata", "creation_time=2021-02-03T04:05:06Z"],
    )
    info = probe(path)
    assert (info.video_streams, info.audio_streams) == (2, 1)
    assert (info.width, info.height, info.fps) == (64, 48, 25.0)
    assert info.duration == pytest.approx(2.0, abs=0.01)  # the video stream's, not the container's 3 s
    assert info.creation_time.startswith("2021-02-03T04:05:06")


def test_raw_stream_without_a_duration_is_counted(video_factory):
    info = probe(video_factory("raw.h264", duration=3, size="64x48", fps=25, extra_output=["-f", "h264"]))
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert info.frame_count == 75


def _bad_inputs(tmp_path, video_factory):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is a shopping list, not a video\n" * 50)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video_factory("whole.mp4", duration=2).read_bytes()[:2048])
    audio = video_factory("audio.m4a", source="sine=duration=1", codec=None)
    return {
        "missing": (tmp_path / "nope.mp4", "file not found"),
        "directory": (tmp_path, "is a directory"),
        "empty": (empty, r"file is empty \(0 bytes\)"),
        "text": (text, "not a readable video file"),
        "truncated": (truncated, "not a readable video file"),
        "audio-only": (audio, "not a video: no video stream found"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "truncated", "audio-only"])
def test_bad_inputs_raise_media_error_naming_the_file(tmp_path, video_factory, case):
    path, reason = _bad_inputs(tmp_path, video_factory)[case]
    with pytest.raises(MediaError, match=reason) as caught:
        probe(path)
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}: ")


# Real clips ------------------------------------------------------------------------------------

def _manifest(folder):
    with open(folder / "MANIFEST.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_real_clips_match_the_manifest(shared_videos):
    wrong = []
    for row in _manifest(shared_videos):
        info = probe(shared_videos / row["file"])
        label = row["label | seen description"]
        # the manifest gives the container's duration; where the video is shorter the label says so
        video_s = re.search(r"video ([\d.]+) s", label)
        duration = float(video_s[1]) if video_s else float(row["duration_s"])
        width, height = map(int, row["resolution"].split("x"))
        checks = {
            "duration": abs(info.duration - duration) <= max(0.1, 0.01 * duration),
            "fps": abs(info.fps - float(row["fps"])) <= 0.01 * float(row["fps"]),
            "size": (info.width, info.height) == (width, height),
            "codec": info.codec == row["codec"].split("+")[0],
            "audio": (info.audio_streams > 0) >= ("+audio" in row["codec"]),
            "frames": abs(info.frame_count - info.duration * info.fps) <= 0.02 * info.frame_count + 2,
        }
        wrong += [f"{row['file']}: {name} ({info})" for name, ok in checks.items() if not ok]
    assert not wrong, "\n".join(wrong)


def test_real_trap_clips(shared_videos):
    fire = probe(shared_videos / "fire2.mp4")  # phone video stored upside down
    assert (fire.rotation, fire.display_width, fire.display_height) == (180, 1280, 720)
    assert fire.creation_time == "2017-01-05T18:32:43.000000Z"
    docu = probe(shared_videos / "issue-195-aspect-ratio.mp4")  # 704x576 with 16:11 pixels
    assert docu.sample_aspect == pytest.approx(16 / 11)
    assert (docu.display_width, docu.display_height) == (1024, 576)
    nasa = probe(shared_videos / "nasa_13013.mp4")
    assert (nasa.video_streams, nasa.audio_streams, nasa.subtitle_streams) == (2, 2, 2)
    for name in ("goldeneye-vfr-drop3.mp4", "fire2.mp4", "demo_skeleton.mp4"):
        assert probe(shared_videos / name).variable_frame_rate, name
    for name in ("bikes.mp4", "vtest.avi", "big_buck_bunny_0_30.webm", "flipping_a_pancake.mkv",
                 "v_CricketShot_g04_c01_rgb.gif", "Megamind.avi", "charades.mp4"):
        assert not probe(shared_videos / name).variable_frame_rate, name
