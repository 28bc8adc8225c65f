"""Cut a span of a video out as an MP4 (H.264), or one instant as a JPEG.

A clip is cut by the ``ffmpeg`` binary (subprocess, with a timeout). :func:`plan_clip` decides how,
from the file itself (PyAV reads its headers and the packets around ``start``):

- **stream copy** (no re-encoding; about as fast as reading the bytes) when the video is H.264
  4:2:0 8-bit (what every browser plays in MP4) and a keyframe K lies within :data:`COPY_SLACK`
  (0.25 s) of ``start``, from which decoding is clean (no frame flagged corrupt: some files list
  non-IDR I-frames as keyframes, cockatoo.mp4, and a copy from there starts with garbage). The clip
  then runs from K to ``end``: it starts at most 0.25 s from the asked start, and may end a few
  frames late (packets are cut in decode order: 2 B-frames give 3 frames more, 0.12 s at 25 fps).
  AAC audio is copied, other audio re-encoded to AAC (cheap);
- otherwise a **transcode** (libx264 ``ultrafast``, CRF 23, yuv420p, AAC), frame-exact from
  ``start``: ffmpeg seeks its input to a keyframe before ``start`` whose decode is clean (the last
  index keyframe at or before it, else earlier ones, else the beginning) and drops the frames before
  ``start``. ``ultrafast``: a 10-s span of 720p30 in about 3.5 s on 2 loaded cores, ``veryfast``
  6.7 s (bench/export.py, docs/benchmarks.md).

The source is named by a path or given as an open file descriptor (``int``): then it is read as
``/dev/fd/N``, which on Linux opens the very file that descriptor holds, never a path name again,
so a server keeps the guarantee of :func:`web.files.open_indexed` (the file it checked is the file
it cuts). Output goes to a temporary name next to ``out`` and is renamed when complete.

A still (:func:`frame_jpeg`) is the first frame at or after ``t`` (the frame that
``VideoInfo``/search timestamps name), decoded exactly (vidsearch.media.decode.frame_at), at its
display size, as a JPEG.
"""
from __future__ import annotations

import io
import logging
import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av

from vidsearch.media.errors import MediaError
from vidsearch.media.probe import open_container, reason, video_stream

log = logging.getLogger(__name__)

COPY_SLACK = 0.25  # seconds: a stream copy may start this far from the asked start (at a keyframe)
CHECK_FRAMES = 12  # frames decoded from a keyframe to call it clean
KEYFRAMES_BACK = 4  # keyframes tried before start for a clean transcode seek point, then the beginning
COPY_VIDEO = {"h264"}
COPY_PIXELS = {"yuv420p", "yuvj420p"}
JPEG_QUALITY = 92


def timeout_for(span: float) -> float:
    """Seconds ffmpeg may take for a clip of ``span`` seconds before it is killed."""
    return 60.0 + 3.0 * span


def source_name(src: int | str | os.PathLike) -> str:
    """What ffmpeg and PyAV open: ``/dev/fd/N`` for a descriptor, else the path."""
    return f"/dev/fd/{src}" if isinstance(src, int) else os.fspath(src)


@dataclass(frozen=True)
class ClipPlan:
    """How a span is cut: ``mode`` ``copy`` or ``transcode``; the clip runs from ``start`` (a
    keyframe for a copy) to ``end``; ``seek`` is where ffmpeg seeks its input (all in seconds of the
    video's own time, from its first frame); ``why`` says why, for logs and headers."""

    mode: str
    start: float
    end: float
    seek: float
    why: str
    audio: str | None  # the audio codec (None: no audio)
    offset: float = 0.0  # ffmpeg's -ss counts from the file's start time: add this to video time

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_clip(src: int | str | os.PathLike, start: float, end: float) -> ClipPlan:
    """Decide copy or transcode for ``[start, end)`` (module notes). Raises MediaError."""
    name = source_name(src)
    if not (0 <= start < end):
        raise ValueError(f"a clip needs 0 <= start < end, not {start}..{end}")
    with open_container(name) as container:
        stream = video_stream(container)
        ctx = stream.codec_context
        codec = ctx.codec.canonical_name if ctx is not None else "unknown"
        pixels = ctx.format.name if ctx is not None and ctx.format is not None else None
        audios = list(container.streams.audio)
        audio = audios[0].codec_context.codec.canonical_name if audios and audios[0].codec_context else None
        unit = float(stream.time_base)
        origin = (stream.start_time or 0) * unit
        offset = origin - (container.start_time or 0) / av.time_base
        keys = _keyframes_before(container, stream, origin, unit, start + COPY_SLACK)

        def transcode(why: str) -> ClipPlan:
            seek = next((k for k, clean in keys if k <= start + 1e-6 and clean), 0.0)
            return ClipPlan("transcode", start, end, seek, why, audio, offset)

        if codec not in COPY_VIDEO:
            return transcode(f"{codec} video: only H.264 is copied")
        if pixels not in COPY_PIXELS:
            return transcode(f"{pixels} pixels: only 8-bit 4:2:0 H.264 is copied (browsers play it)")
        near = [(k, clean) for k, clean in keys if abs(k - start) <= COPY_SLACK]
        if not near:
            return transcode(f"no keyframe within {COPY_SLACK:g} s of {start:.3f} s")
        k, clean = near[0]
        if not clean:
            return transcode(f"the keyframe at {k:.3f} s does not decode cleanly")
        if k >= end:
            return transcode("the span ends before the next keyframe")
        return ClipPlan("copy", k, end, k, f"keyframe at {k:.3f} s", audio, offset)


def _keyframes_before(container, stream, origin: float, unit: float, t: float) -> list[tuple[float, bool]]:
    """Up to KEYFRAMES_BACK index keyframes at or before ``t`` (seconds from the first frame),
    latest first, each with whether decoding from it is clean."""
    out: list[tuple[float, bool]] = []
    at = t
    for _ in range(KEYFRAMES_BACK):
        found = _keyframe_at_or_before(container, stream, origin, unit, at)
        if found is None:
            break
        key, clean = found
        if out and key >= out[-1][0] - 1e-6:
            break  # the seek cannot go further back
        out.append((key, clean))
        if clean or key <= 0:
            break
        at = key - 1e-3
    return out


def _keyframe_at_or_before(container, stream, origin: float, unit: float, t: float) -> tuple[float, bool] | None:
    try:
        container.seek(int((origin + max(t, 0.0)) / unit), stream=stream, backward=True, any_frame=False)
    except (av.FFmpegError, ValueError) as exc:
        log.info("%s: cannot seek (%s)", container.name, reason(exc))
        return None
    key, clean, frames = None, True, 0
    ctx = stream.codec_context
    try:
        ctx.flush_buffers()
    except (av.FFmpegError, AttributeError):
        pass
    try:
        for packet in container.demux(stream):
            if key is None:
                if packet.pts is None or not packet.is_keyframe:
                    continue
                key = packet.pts * unit - origin
            for frame in packet.decode():
                frames += 1
                stamp = frame.pts * unit - origin if frame.pts is not None else key
                if frame.is_corrupt and stamp >= key - 1e-6:
                    clean = False
            if frames >= CHECK_FRAMES or not clean:
                break
    except av.FFmpegError as exc:
        log.info("%s: decoding after %.3f s failed (%s)", container.name, t, reason(exc))
        clean = False
    if key is None:
        return None
    return key, clean


def ffmpeg_clip_command(plan: ClipPlan, name: str, out: str, *, ffmpeg: str = "ffmpeg",
                        max_bytes: int | None = None) -> list[str]:
    """The ffmpeg command that writes ``plan``'s clip of ``name`` to ``out`` (an MP4)."""
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-y"]
    if plan.mode == "copy":
        # ffmpeg takes -ss in microseconds: rounded up, its backward seek lands on the keyframe itself
        # (a later -ss would start the clip's edit list after the keyframe and hide it)
        seek = math.ceil((plan.seek + plan.offset) * 1e6) / 1e6
        cmd += ["-ss", f"{seek:.6f}", "-i", name, "-t", f"{plan.duration:.6f}",
                "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "copy"]
        cmd += ["-c:a", "copy"] if plan.audio == "aac" else ["-c:a", "aac", "-b:a", "128k"]
    else:
        cmd += ["-ss", f"{plan.seek + plan.offset:.6f}", "-i", name,
                "-ss", f"{plan.start - plan.seek:.6f}", "-t", f"{plan.duration:.6f}",
                "-map", "0:v:0", "-map", "0:a:0?",
                "-vf", "scale=trunc(iw*sar/2)*2:trunc(ih/2)*2,setsar=1",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "128k"]
    cmd += ["-sn", "-dn", "-map_metadata", "-1", "-movflags", "+faststart"]
    if max_bytes is not None:
        cmd += ["-fs", str(int(max_bytes))]
    return cmd + ["-f", "mp4", out]


@dataclass(frozen=True)
class ClipResult:
    path: Path
    plan: ClipPlan
    seconds: float  # wall time ffmpeg took


def export_clip(src: int | str | os.PathLike, start: float, end: float, out: str | os.PathLike, *,
                ffmpeg: str = "ffmpeg", timeout: float | None = None, max_bytes: int | None = None,
                plan: ClipPlan | None = None) -> ClipResult:
    """Write the clip ``[start, end)`` of ``src`` to ``out`` (MP4, H.264), copied or transcoded as
    :func:`plan_clip` decides. Written to a temporary name in ``out``'s folder and renamed when ffmpeg
    has finished. ``max_bytes``: a larger output is an error (a full disk). Raises MediaError."""
    name = source_name(src)
    out = Path(out)
    plan = plan or plan_clip(src, start, end)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    pass_fds = (src,) if isinstance(src, int) else ()
    began = time.monotonic()
    try:
        cmd = ffmpeg_clip_command(plan, name, tmp, ffmpeg=ffmpeg, max_bytes=max_bytes)
        _run(cmd, name, timeout or timeout_for(plan.duration), pass_fds)
        size = os.path.getsize(tmp)
        if size == 0:
            raise MediaError(name, f"nothing to export between {start:.3f} and {end:.3f} s")
        if max_bytes is not None and size >= max_bytes:
            raise MediaError(name, f"the clip would take more than {max_bytes / 2**20:.0f} MiB (the disk space left)")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ClipResult(out, plan, time.monotonic() - began)


def _run(cmd: list[str], name: str, timeout: float, pass_fds: tuple[int, ...]) -> None:
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout, pass_fds=pass_fds)
    except FileNotFoundError:
        raise MediaError(name, f"{cmd[0]} is not installed (apt-get install -y ffmpeg)") from None
    except subprocess.TimeoutExpired:
        raise MediaError(name, f"ffmpeg took more than {timeout:.0f} s and was stopped") from None
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise MediaError(name, f"ffmpeg failed: {err[-1] if err else f'exit status {done.returncode}'}")


def frame_jpeg(src: int | str | os.PathLike, t: float, *, quality: int = JPEG_QUALITY) -> tuple[bytes, float]:
    """The frame at ``t`` seconds (the first at or after it; the last one when ``t`` is past it) as
    a JPEG at display size, and that frame's own timestamp. Raises MediaError."""
    from PIL import Image

    from vidsearch.media.decode import frame_at
    from vidsearch.media.probe import probe

    name = source_name(src)
    info = probe(name)
    frame = frame_at(name, info, t)
    buf = io.BytesIO()
    Image.fromarray(frame.image).save(buf, format="JPEG", quality=quality, subsampling=0)  # 4:4:4: a still to keep
    return buf.getvalue(), frame.timestamp


def clip_file_name(video_name: str, start: float, end: float, ext: str = "mp4") -> str:
    """``gate_0-01-05_to_0-01-15.mp4``: the video's name (without extension, made safe) and the span."""
    stem = _safe_stem(video_name)
    return f"{stem}_{_hms(start)}_to_{_hms(end)}.{ext}"


def frame_file_name(video_name: str, t: float) -> str:
    """``gate_0-01-05.250.jpg``: the video's name and the instant (milliseconds when not whole)."""
    return f"{_safe_stem(video_name)}_{_hms(t, millis=True)}.jpg"


def _safe_stem(name: str) -> str:
    stem = Path(name).stem or "video"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._") or "video"
    return safe[:80]


def _hms(t: float, millis: bool = False) -> str:
    ms = int(round(max(t, 0.0) * 1000))
    s, ms = divmod(ms, 1000)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    text = f"{h:d}-{m:02d}-{s:02d}"
    return f"{text}.{ms:03d}" if millis and ms else text
