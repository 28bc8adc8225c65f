"""Which files a browser plays as they are, and the copy made of the others."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from vidsearch.media.errors import MediaError
from vidsearch.media.playable import MATROSKA, QUICKTIME, Streams, inspect, make_playable_copy, unplayable_reason

TABLE = [
    # container, video, pixels, audio -> playable as it is
    (QUICKTIME, "h264", "yuv420p", "aac", True),
    (QUICKTIME, "h264", "yuv420p", None, True),
    (QUICKTIME, "h264", "yuvj420p", "mp3", True),
    (QUICKTIME, "h264", "yuv444p", "mp3", False),  # cockatoo.mp4: High 4:4:4
    (QUICKTIME, "h264", "yuv420p10le", None, False),  # 10-bit H.264
    (QUICKTIME, "hevc", "yuv420p", "aac", False),  # most browsers without hardware decode
    (QUICKTIME, "mpeg4", "yuv420p", "aac", False),  # MPEG-4 Part 2
    (QUICKTIME, "prores", "yuv422p10le", "pcm_s16le", False),
    (QUICKTIME, "h264", "yuv420p", "pcm_s16le", False),
    (QUICKTIME, "h264", "yuv420p", "ac3", False),
    (QUICKTIME, "av1", "yuv420p", "opus", True),
    (QUICKTIME, "vp9", "yuv420p", "aac", True),
    (MATROSKA, "vp8", "yuv420p", "vorbis", True),  # big_buck_bunny_0_30.webm
    (MATROSKA, "vp9", "yuv420p10le", "opus", True),
    (MATROSKA, "h264", "yuv420p", "aac", False),  # flipping_a_pancake.mkv: not WebM
    (MATROSKA, "hevc", "yuv420p", None, False),
    ("avi", "msmpeg4v3", "yuv420p", None, False),  # vtest.avi
    ("avi", "h264", "yuv420p", None, False),
    ("gif", "gif", "bgra", None, False),  # a <video> does not play GIF
    ("mpegts", "h264", "yuv420p", "aac", False),
    ("ogg", "theora", "yuv420p", "vorbis", False),
]


@pytest.mark.parametrize("container,video,pixels,audio,playable", TABLE)
def test_the_decision_table(container, video, pixels, audio, playable):
    why = unplayable_reason(Streams(container, video, pixels, audio))
    assert (why is None) == playable, why
    if why is not None:
        assert why.split(" ")[0] in (video, audio, pixels) or video in why


def test_inspect_reads_container_and_codecs(video_factory):
    avi = video_factory("old.avi", duration=1, codec="mpeg4")
    assert inspect(avi) == Streams("avi", "mpeg4", "yuv420p", None)
    mp4 = video_factory("new.mp4", duration=1, extra_input=["-f", "lavfi", "-t", "1", "-i", "sine"],
                        extra_output=["-c:a", "aac"])
    assert inspect(mp4) == Streams(QUICKTIME, "h264", "yuv420p", "aac") and unplayable_reason(inspect(mp4)) is None


def _probe(path):
    return json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                                      str(path)], check=True, capture_output=True).stdout)


def test_a_copy_is_h264_mp4_faststart_of_the_whole_video(video_factory, tmp_path):
    avi = video_factory("old.avi", duration=3, codec="mpeg4", extra_input=["-f", "lavfi", "-t", "3", "-i", "sine"],
                        extra_output=["-c:a", "mp3"])
    seen = []
    fd = os.open(avi, os.O_RDONLY)
    try:
        out = make_playable_copy(fd, tmp_path / "copy.mp4", streams=inspect(avi), duration=3.0,
                                 progress=seen.append)
    finally:
        os.close(fd)
    info = _probe(out)
    assert [(s["codec_name"], s.get("pix_fmt")) for s in info["streams"]] == [("h264", "yuv420p"), ("aac", None)]
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=0.1)
    head = out.read_bytes()[:64 * 1024]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 0) + 1  # faststart
    assert seen[-1] == 1.0 and unplayable_reason(inspect(out)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.mp4", "old.avi"]


def test_h264_in_another_container_is_remuxed(video_factory, tmp_path):
    mkv = video_factory("cam.mkv", duration=2)
    cmd_out = make_playable_copy(mkv, tmp_path / "cam.mp4", streams=inspect(mkv), duration=2.0)
    assert _probe(cmd_out)["streams"][0]["codec_name"] == "h264"


def test_a_copy_cut_short_is_never_kept(video_factory, tmp_path):
    avi = video_factory("big.avi", duration=6, codec="mpeg4", size="640x480")
    with pytest.raises(MediaError, match="MiB"):
        make_playable_copy(avi, tmp_path / "big.mp4", streams=inspect(avi), duration=6.0, max_bytes=30_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.avi"]


def test_the_real_clips(shared_videos):
    """Every real clip gets the verdict its container and codecs call for (MANIFEST.tsv)."""
    not_playable = {"vtest.avi": "msmpeg4v3", "Megamind.avi": "mpeg4", "test.avi": "mpeg4",
                    "S001C001P001R001A001_rgb.avi": "avi", "cockatoo.mp4": "yuv444p",
                    "flipping_a_pancake.mkv": "matroska", "v_CricketShot_g04_c01_rgb.gif": "gif"}
    seen = 0
    for path in sorted(shared_videos.iterdir()):
        if path.suffix not in (".mp4", ".avi", ".mkv", ".webm", ".gif"):
            continue
        why = unplayable_reason(inspect(path))
        if path.name in not_playable:
            assert why is not None and not_playable[path.name] in why, (path.name, why)
        else:
            assert why is None, (path.name, why)
        seen += 1
    assert seen >= 30
