"""Can a browser play this file as it is, and, when not, a copy that it can (H.264 in MP4).

:func:`unplayable_reason` is the one decision, from the container and the codecs (what
:func:`inspect` reads from the file's headers with PyAV): None when every current browser plays the
file in a ``<video>`` (MP4/MOV with H.264 4:2:0 8-bit, VP9 or AV1; WebM with VP8, VP9 or AV1; audio
AAC, MP3, Opus, FLAC or Vorbis as the container allows, or none), else the reason in words. Where
support differs between browsers (HEVC, H.264 in Matroska/AVI, 10-bit or 4:4:4 H.264, PCM audio,
GIF, which a ``<video>`` does not play) it says "not playable": a copy costs a remux or a transcode
in the background, a wrong "playable" costs a video that never plays.

:func:`make_playable_copy` writes the copy: H.264 (copied when the source already is H.264 4:2:0,
else libx264 ``veryfast``), yuv420p, even size, ``-movflags +faststart``, audio AAC (or none),
through a temporary name renamed when ffmpeg has finished and the result checks out, so a crash or a
kill never leaves a half copy under the final name.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av

from vidsearch.media.errors import MediaError
from vidsearch.media.probe import open_container, reason, video_stream

QUICKTIME = "mov,mp4,m4a,3gp,3g2,mj2"
MATROSKA = "matroska,webm"
H264_PIXELS = {"yuv420p", "yuvj420p"}
_RULES = {
    # container (libavformat's name): video codec -> allowed pixel formats (None: any), audio codecs
    QUICKTIME: ({"h264": H264_PIXELS, "vp9": None, "av1": None}, {"aac", "mp3", "opus", "flac"}),
    MATROSKA: ({"vp8": None, "vp9": None, "av1": None}, {"vorbis", "opus"}),  # what WebM allows
}


@dataclass(frozen=True)
class Streams:
    """What decides playability: libavformat's container name and the codecs of the first video
    and audio streams (None: no audio)."""

    container: str
    video: str
    pixels: str | None = None
    audio: str | None = None


def inspect(src: str | os.PathLike) -> Streams:
    """The :class:`Streams` of a file (headers only, nothing decoded). Raises MediaError."""
    with open_container(src) as container:
        stream = video_stream(container)
        ctx = stream.codec_context
        audio = next(iter(container.streams.audio), None)
        return Streams(
            container=container.format.name,
            video=ctx.codec.canonical_name if ctx is not None else "unknown",
            pixels=ctx.format.name if ctx is not None and ctx.format is not None else None,
            audio=audio.codec_context.codec.canonical_name if audio is not None and audio.codec_context else None,
        )


def unplayable_reason(s: Streams) -> str | None:
    """None when browsers play the file as it is; else why not ("msmpeg4v3 video in avi")."""
    rules = _RULES.get(s.container)
    where = s.container.split(",")[0]
    if rules is None:
        return f"{s.video} video in {where}: browsers play MP4 and WebM"
    videos, audios = rules
    if s.video not in videos:
        return f"{s.video} video in {where}: browsers play {', '.join(sorted(videos))} there"
    pixels = videos[s.video]
    if pixels is not None and s.pixels not in pixels:
        return f"{s.video} video with {s.pixels} pixels: browsers play 8-bit 4:2:0"
    if s.audio is not None and s.audio not in audios:
        return f"{s.audio} audio in {where}: browsers play {', '.join(sorted(audios))} there"
    return None


def copy_video_stream(s: Streams) -> bool:
    """The video of a copy can be the source's own (a remux) when it is H.264 4:2:0 8-bit."""
    return s.video == "h264" and s.pixels in H264_PIXELS


def playable_command(s: Streams, name: str, out: str, *, ffmpeg: str = "ffmpeg",
                     max_bytes: int | None = None) -> list[str]:
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", name, "-map", "0:v:0", "-map", "0:a:0?"]
    if copy_video_stream(s):
        cmd += ["-c:v", "copy"]
    else:
        cmd += ["-vf", "scale=trunc(iw*sar/2)*2:trunc(ih/2)*2,setsar=1", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", "23", "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", "copy"] if s.audio == "aac" else ["-c:a", "aac", "-b:a", "128k"]
    cmd += ["-sn", "-dn", "-movflags", "+faststart", "-progress", "pipe:1", "-nostats"]
    if max_bytes is not None:
        cmd += ["-fs", str(int(max_bytes))]
    return cmd + ["-f", "mp4", out]


class Cancelled(Exception):
    """The copy was no longer wanted (its video deleted, the server stopping)."""


_OUT_TIME = re.compile(rb"^out_time_(?:us|ms)=(\d+)")


def make_playable_copy(src: int | str | os.PathLike, out: str | os.PathLike, *, streams: Streams,
                       duration: float, ffmpeg: str = "ffmpeg", timeout: float | None = None,
                       max_bytes: int | None = None, progress: Callable[[float], None] | None = None,
                       cancel: threading.Event | None = None,
                       started: Callable[[subprocess.Popen], None] | None = None) -> Path:
    """Write the browser-playable copy of ``src`` (a path, or an open descriptor read as /dev/fd/N)
    to ``out``: at ``out``'s folder under a temporary ``.part`` name, renamed once ffmpeg succeeded
    and the copy is complete (not cut by ``max_bytes``). ``progress(fraction)`` as it goes.
    ``started(process)`` gets the ffmpeg process (to kill it); once ``cancel`` is set it raises
    :class:`Cancelled`. Raises MediaError (also when the copy would exceed ``max_bytes``)."""
    from vidsearch.media.export import source_name

    name = source_name(src)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.part")
    pass_fds = (src,) if isinstance(src, int) else ()
    timeout = timeout if timeout is not None else 600.0 + 4.0 * duration
    cmd = playable_command(streams, name, str(tmp), ffmpeg=ffmpeg, max_bytes=max_bytes)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=pass_fds)
    except FileNotFoundError:
        raise MediaError(name, f"{ffmpeg} is not installed (apt-get install -y ffmpeg)") from None
    stopper = threading.Timer(timeout, proc.kill)
    stopper.daemon = True
    stopper.start()
    if started is not None:
        started(proc)  # the caller may kill it (a cancel)
    err = b""
    try:
        errs: list[bytes] = []
        reader = threading.Thread(target=lambda: errs.append(proc.stderr.read()), daemon=True)
        reader.start()
        for line in proc.stdout:
            m = _OUT_TIME.match(line)
            if m and progress is not None and duration > 0:
                progress(min(int(m[1]) / 1e6 / duration, 0.999))
        code = proc.wait()
        reader.join(5)
        err = b"".join(errs)
        if cancel is not None and cancel.is_set():
            raise Cancelled(name)
        if not stopper.is_alive() and code != 0:
            raise MediaError(name, f"making a playable copy took more than {timeout:.0f} s")
        if code != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            raise MediaError(name, f"ffmpeg failed making a playable copy: {lines[-1] if lines else code}")
        size = tmp.stat().st_size
        if max_bytes is not None and size >= max_bytes * 0.98:
            raise MediaError(name, f"the playable copy would take more than {max_bytes / 2**20:.0f} MiB")
        _check_copy(tmp, duration)
        os.replace(tmp, out)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        stopper.cancel()
    if progress is not None:
        progress(1.0)
    return out


def _check_copy(path: Path, duration: float) -> None:
    """The copy must open and last about as long as the source (ffmpeg cut short writes a valid
    file that is too short)."""
    try:
        with av.open(str(path)) as c:
            got = float(c.duration / av.time_base) if c.duration else 0.0
    except av.FFmpegError as exc:
        raise MediaError(str(path), f"the playable copy does not open ({reason(exc)})") from None
    if duration > 2 and got < duration * 0.9 - 1:
        raise MediaError(str(path), f"the playable copy lasts {got:.1f} s of {duration:.1f} s")
