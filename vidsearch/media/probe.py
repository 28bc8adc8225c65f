"""File -> :class:`VideoInfo`, read with PyAV (libavformat) before any frame is sampled.

Where each field comes from:

- The video stream is the first one that is not a cover picture (``attached_pic``). A file with
  several (nasa_13013.mp4: 320x180 @ 25 fps and 480x270 @ 29.97 fps) is described, and decoded, by
  that one; the other streams are only counted.
- Rotation comes from the display matrix. PyAV exposes it on decoded frames, not on streams, so the
  first frame is decoded; that also proves that something in the file decodes at all. The
  reference is what ffmpeg's autorotation shows. PyAV's ``frame.rotation`` is counter-clockwise,
  and ``VideoInfo.rotation`` is clockwise. (Old ffmpeg's ``rotate`` tag is that same matrix: the
  mov demuxer reads the matrix, and no tag of that name reaches the metadata.)
- Duration is the video stream's, not the container's (nasa_13013.mp4: video 13.0 s, container
  16.6 s). It comes from the stream header, then Matroska's per-track DURATION tag, then the
  container minus the stream's start. When none of these exist (raw elementary streams), packets
  are counted.
- The frame rate is the average one (frames / duration), else ffmpeg's guess. The frame count is
  the container's when it says, else duration * fps.
- A file is VFR when the average rate and ffmpeg's guessed base rate (r_frame_rate) disagree
  (goldeneye-vfr-drop3.mp4: 16.05 vs 23.976, fire2.mp4), or when the time steps between the first
  100 packets (sorted, because packets arrive in decode order) are uneven.
- Display size is the coded size with the sample aspect ratio applied to the width, then swapped
  for a 90/270 degree rotation.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import av
import numpy as np

from vidsearch.media.errors import MediaError
from vidsearch.records import VideoInfo

MAX_FRAME_PIXELS = 8192 * 8192  # larger frames are refused: one would take 100+ MB before any scaling
RATE_PACKETS = 100  # packets whose time steps decide VFR
READ_AHEAD = 28  # more packets demuxed than used: B-frames come later in decode order than they show


def reason(exc: Exception) -> str:
    """FFmpeg's message without the path that PyAV appends (the path leads every MediaError)."""
    text = getattr(exc, "strerror", None) or str(exc)
    if text in ("End of file", "Input/output error"):  # a header cut short
        return f"{text}: the file ends too early, it may be truncated"
    return text


def check_frame_size(path: str, width: int, height: int, where: str = "") -> None:
    """Refuse pictures over :data:`MAX_FRAME_PIXELS` before they are decoded (a 16k x 16k frame
    needs 400 MB+ per decoded copy, and frame threads hold several)."""
    if width * height > MAX_FRAME_PIXELS:
        raise MediaError(path, f"frame too large: {width}x{height} pixels{where} (at most "
                               f"{MAX_FRAME_PIXELS // 10**6} megapixels are decoded)")


def open_container(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` with PyAV, or raise a MediaError that says why a person's file is unusable."""
    p = Path(path)
    if not p.exists():
        raise MediaError(path, "file not found")
    if p.is_dir():
        raise MediaError(path, "is a directory, not a video file")
    if not p.is_file():
        raise MediaError(path, "not a regular file")
    if p.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    try:
        return av.open(str(p), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaError(path, f"not a readable video file ({reason(exc)})") from None


def video_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The stream that ``probe`` describes and ``sample_frames`` decodes."""
    videos = _moving_pictures(container)
    if not videos:
        raise MediaError(container.name, "not a video: no video stream found")
    return videos[0]


def _moving_pictures(container: av.container.InputContainer) -> list[av.VideoStream]:
    return [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]


def probe(path: str | os.PathLike) -> VideoInfo:
    path = str(path)
    with open_container(path) as container:
        stream = video_stream(container)
        if stream.codec_context is not None:  # None: no decoder for the codec (the scan says so)
            check_frame_size(path, stream.codec_context.width, stream.codec_context.height)
        duration = _declared_duration(container, stream)
        first, stamps, packets = _scan(path, container, stream, count_all=duration is None)
        check_frame_size(path, first.width, first.height)
        steps = np.diff(sorted(stamps)[:RATE_PACKETS]) * float(stream.time_base)
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if fps <= 0:
            raise MediaError(path, "cannot tell the frame rate")
        if duration is None:
            duration = packets / fps
        rotation = round(-first.rotation / 90) * 90 % 360
        sar = float(stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio or 1)
        width, height = stream.codec_context.width, stream.codec_context.height
        display = (max(1, round(width * sar)), height)
        if rotation in (90, 270):
            display = display[::-1]
        return VideoInfo(
            path=path,
            container=container.format.name,
            codec=stream.codec_context.codec.canonical_name,
            duration=duration,
            fps=fps,
            frame_count=stream.frames or round(duration * fps),
            width=width,
            height=height,
            display_width=display[0],
            display_height=display[1],
            rotation=rotation,
            sample_aspect=sar,
            variable_frame_rate=_variable_rate(stream, steps),
            video_streams=len(_moving_pictures(container)),
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
            creation_time=container.metadata.get("creation_time") or stream.metadata.get("creation_time"),
        )


def _declared_duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    tag = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", stream.metadata.get("DURATION", ""))
    if tag:
        return int(tag[1]) * 3600 + int(tag[2]) * 60 + float(tag[3])
    if container.duration:
        return container.duration / av.time_base - float((stream.start_time or 0) * stream.time_base)
    return None


def _scan(path: str, container, stream, *, count_all: bool) -> tuple[av.VideoFrame, list[int], int]:
    """Demux the head of the stream: decode until a frame comes out, note packet stamps. With
    ``count_all``, demux to the end to count the packets (for a file that states no duration)."""
    first, stamps, packets, error = None, [], 0, None
    try:
        for packet in container.demux(stream):
            if packet.size:
                packets += 1
                if packet.pts is not None:
                    stamps.append(packet.pts)
            if first is None:
                try:
                    first = next(iter(packet.decode()), None)
                except av.FFmpegError as exc:  # a broken packet; a later one may decode
                    error = exc
            elif packets >= RATE_PACKETS + READ_AHEAD and not count_all:
                break
    except av.FFmpegError as exc:
        error = exc
    if first is None:
        raise MediaError(path, f"cannot be decoded: {reason(error) if error else 'no frame decodes'}")
    return first, stamps, packets


def _variable_rate(stream: av.VideoStream, steps: np.ndarray) -> bool:
    avg, base = stream.average_rate, stream.base_rate
    if avg and base and abs(avg - base) > 0.01 * base:
        return True
    if steps.size < 2:
        return False
    typical = np.median(steps)
    return bool(np.any(np.abs(steps - typical) > typical / 2))
