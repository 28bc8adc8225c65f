"""Sampled frames of a video in bounded chunks: decord first, PyAV when decord cannot be trusted.

Targets are 0, 1/fps, 2/fps, ... < duration. Each target gets the first decoded frame at or after
it (1 ms of slack for time-base rounding), stamped with that frame's own presentation time, counted
from the stream's first timestamp (as decord counts). A frame that answers several targets (a gap
in a VFR file) is delivered once. Images are RGB uint8, upright, at display aspect, short side
``short_side``, and are scaled while decoding (decord) or as each picked frame is converted (PyAV),
so only about one chunk of small frames is held at a time.

``large_side`` (OCR, ``VIDSEARCH_OCR_SIZE``): each frame that PyAV delivers also carries
``Frame.large``, the same decoded picture scaled to that short side (capped at the source's own;
None when that is not larger than ``short_side``): PyAV has the full-size picture anyway and
converts the picked frame twice. ``Frame.image`` is the same either way. Frames from decord carry
none (``large`` is None): decord scales inside its decoder, so a larger copy needs a second
reader, i.e. a second decode; measured on the 30 real clips it raised the ingest from 35 to 52
CPU-s (docs/benchmarks.md, "Text search").

Choices, measured on the clips in shared/testvideos:

- decord scales to the size asked for and applies the display-matrix rotation itself (fire2.mp4 is
  turned 180 degrees). Its ``get_frame_timestamp`` equals PyAV's pts on every MP4/MKV/WebM/GIF clip,
  VFR ones included (goldeneye-vfr-drop3, fire2, demo_skeleton), so decord also serves VFR files.
  Its frames match PyAV's sequential decode on every real clip, also where ffmpeg's fast seek is
  corrupt. Its times are float32 (about 0.1 ms off after an hour).
- decord seeks to what the demuxer flags as keyframes; libavformat seeks by the file's index. In
  MP4/MOV files whose non-IDR I-frames are flagged (x264 scene cuts), decord returns frames from
  the wrong place without any error. Such files (the index lists every frame, and has fewer
  keyframes than decord saw) go to PyAV.
- decord raises on some files: VP9 from libvpx's realtime mode, and output widths of 96 pixels or
  less such as 32 or 48. PyAV takes over.
- decord cannot choose a stream. On nasa_13013.mp4 it decodes the 480x270 stream, not the one
  that ``probe`` describes. Files with several video streams therefore go to PyAV.
- On AVI, decord's timestamps are garbage (-3.8e17 where a frame has no pts). Timestamps that are
  not finite and non-decreasing send the file to PyAV.
- decord can deadlock in ``get_batch`` when a file over-reports its frame count. Only indices of
  frames whose timestamps it reported are asked for. Every decoder step also runs in a daemon thread
  under a watchdog. If a chunk does not arrive within ``timeout`` s, the stuck call is abandoned
  (C code cannot be interrupted) and PyAV goes on after the last delivered frame. A stuck PyAV
  raises MediaError.

PyAV decodes sequentially (never seeks: fast seek returns corrupt frames on cockatoo.mp4 and
demo.mp4) with frame threads and ``skip_frame="NONREF"``. Non-reference frames (most B-frames) are
then not decoded: 1.3-2x faster on the clips. A target then gets the next reference frame, with
its true time, at most 4 frames later (133 ms on testvideo.mp4). AVI is the exception. It stores no
presentation times: libavformat stamps its packets in decode order, and the frames of a B-frame
stream come out of the decoder in presentation order with permuted stamps (1, 2, 4, 3, ...).
Stamps are therefore handed out sorted over a few pending frames (a no-op where they are right),
and that needs every frame decoded.

Decoding only what 1 frame/s needs (``keyframes``, ``skip_loop_filter``; VIDSEARCH_KEYFRAME_SAMPLING,
VIDSEARCH_SKIP_LOOP_FILTER). Where the keyframes of a file come at least every
:data:`KEYFRAME_PERIODS` sample periods (most IP cameras send one every 1-2 s), PyAV decodes the
keyframes alone (``skip_frame="NONKEY"``: 14x less than every frame on a 720p file) and each target
gets the first keyframe at or after it, with its true time. The gaps are read before decoding
(:func:`keyframes_dense`), and each delivered keyframe is verified as seeks are (an intra picture,
not flagged corrupt, no longer gap than probed); one that fails sends the rest of the file, from
the last delivered frame, to the full decode. The deblocking filter can be skipped
(``skip_loop_filter=all``): references are then unfiltered, so the error grows along a GOP (mean
0.3-1 of 255 over the first 40 frames of a 720p file) for about 10% less decode time; keyframes
decoded alone differ least (mean 0.15 of 255 at 224 px, 7% less decode time). Or the
B-frames can all be skipped (``skip_bframes``, VIDSEARCH_SKIP_BFRAMES; ``skip_frame="BIDIR"``)
where nothing else refers to them: :func:`bframes_unreferenced` decodes the file's first 2 s
both ways and requires every I- and P-frame to come out byte for byte the same (x264's faster
presets, with one reference frame, qualify: 0.6x the decode time of the busy 720p bench video; x264
medium and most shared clips refer to reference B-frames from P-frames, and keep the usual
decode). The frames are then exact (where the structure of the first 2 s holds for the whole file:
the check samples, it cannot prove), each target getting the next I- or P-frame. What each
shortcut costs in retrieval quality is measured in docs/benchmarks.md ("Ingest at camera speed").

Spans (``start``/``end``, for the chunks of a distributed ingest): a span delivers exactly the
frames that a decode of the whole video delivers with timestamps in ``[start - SLACK, end -
SLACK)``, so the spans of a video, decoded anywhere, add up to its sequential decode with no frame
twice (a frame that answers the last target of a span but lies past its end belongs to the next
span, which delivers it). Spans are decoded with PyAV: decord, asked for frames in the middle of
cockatoo.mp4, seeks to a keyframe by itself and returns the same garbage as ffmpeg's fast seek
(measured: mean pixel error 100+ from 6 s on), and it cannot say so. A distributed ingest
therefore decodes exactly what ``VIDSEARCH_DECODER=pyav`` decodes in-process (a video short enough
to be one span keeps the in-process choice). PyAV does not fast-seek to ``start``: it seeks the demuxer to the index keyframe at or before
``start - 2 s`` (``container.seek(backward=True)``), decodes forward and discards the frames before
``start``. That keyframe is trusted only when the frames decoded from it up to ``start`` are not
flagged corrupt and the first lies before ``start``. cockatoo.mp4 lists non-IDR I-frames as sync
samples (3.8 and 7.2 s); P-frames after them refer to pictures before them, so decoding from
there gives garbage (what ffmpeg's fast seek shows), and FFmpeg flags those frames corrupt until
the stream recovers. A rejected seek is tried 10 s earlier, then the span is decoded from the
beginning (always right, costs the decode of everything before it). Tests compare spans with the
sequential decode on cockatoo.mp4 and demo.mp4 and the other real clips. A span after the first that
decodes nothing (past the undamaged part of a truncated file) is empty, not an error.
"""
from __future__ import annotations

import bisect
import functools
import heapq
import logging
import math
import os
import queue
import threading
from collections import deque
from typing import Callable, Iterator

import av
import decord
import numpy as np

from vidsearch.media.errors import MediaError
from vidsearch.media.probe import check_frame_size, open_container, reason, video_stream
from vidsearch.records import Frame, VideoInfo

log = logging.getLogger(__name__)

SLACK = 1e-3  # a frame this much before a target still answers it (time-base rounding)
REORDER = 4  # pending frames over which stamps are sorted (deeper than B-frame reordering)
FIRST_CHUNK = 4  # PyAV: the first chunks grow 4, 8, 16 ... up to the chunk size (the ingest starts sooner)
SEEK_MARGINS = (2.0, 10.0, None)  # seconds before a span's start to seek to; None: decode from the beginning
KEYFRAME_PERIODS = 2.0  # keyframes at most this many sample periods apart are taken as the samples
BFRAME_CHECK_S = 2.0  # seconds at the start of a file over which skip_bframes checks the decode
BFRAME_GAP = 0.25  # at most this many seconds between two I/P-frames where B-frames are skipped
DECODE_MEMORY = 1 << 30  # bytes of decoded pictures that frame threads may hold at once (huge frames get fewer threads)


class _Stalled(Exception):
    """A decoder step made no progress within the timeout."""


def sample_frames(
    path: str | os.PathLike,
    info: VideoInfo,
    *,
    fps: float = 1.0,
    short_side: int = 224,
    chunk: int = 32,
    timeout: float = 120.0,
    decoder: str = "auto",
    start: float = 0.0,
    end: float | None = None,
    large_side: int = 0,
    keyframes: bool = False,
    skip_loop_filter: bool = False,
    skip_bframes: bool = False,
) -> Iterator[list[Frame]]:
    """``decoder``: ``"auto"`` (decord where it can be trusted, else PyAV) or ``"pyav"``.
    ``start``/``end``: only the span of targets ``start <= k/fps < end`` (see the module notes).
    ``large_side``: PyAV also delivers each frame at this short side in ``Frame.large`` (0: no;
    decord never does, see the module notes).
    ``keyframes``: where the file's keyframes come at least every :data:`KEYFRAME_PERIODS` sample
    periods, decode only them (PyAV) and take them as the samples; ``skip_loop_filter``: (PyAV, the
    keyframes alone too) skip the deblocking filter; ``skip_bframes``: elsewhere (PyAV) decode no B-frame where
    :func:`bframes_unreferenced` finds the other frames decode the same without them (see the
    module notes)."""
    if decoder not in ("auto", "pyav"):
        raise ValueError(f"unknown decoder {decoder!r}: expected auto or pyav")
    path = str(path)
    targets = [k / fps for k in range(max(1, math.ceil(info.duration * fps)))]
    span = start > 0 or end is not None
    if span:
        targets = [t for t in targets if t >= start - 1e-9 and (end is None or t < end - 1e-9)]
        if not targets:
            return
    size = display_size(info, short_side)
    large = large_size(info, short_side, large_side)
    last = None  # time of the last delivered frame
    keyed = keyframes and info.container != "avi" and keyframes_dense(path, fps, info)
    bidir = skip_bframes and not keyed and info.container != "avi" and bframes_unreferenced(path)
    if decoder == "auto" and info.video_streams == 1 and not span and not keyed and not bidir:
        try:
            for frames in _watched(_decord_chunks(path, targets, size, chunk), timeout):
                yield frames
                last = frames[-1].timestamp
            return
        except Exception as exc:  # cannot open, raised, stalled, or unusable timestamps
            where = "from the start" if last is None else f"after {last:.3f} s"
            log.warning("%s: decord failed (%s); decoding with PyAV %s", path, exc, where)
    for keyonly in (True, False) if keyed else (False,):
        if last is not None:
            targets = targets[bisect.bisect_right(targets, last + SLACK):]
            if not targets:
                return
        try:
            chunks = _pyav_chunks(path, info, targets, size, chunk, end=end, seek=start > 0 or last is not None,
                                  large=large, keyframes=keyonly, loop_filter=not skip_loop_filter,
                                  gap=_keyframe_gap(fps, info), bidir=bidir and not keyonly)
            for frames in _watched(chunks, timeout):
                yield frames
                last = frames[-1].timestamp
        except _NotKeyframes as exc:
            log.warning("%s: %s; decoding every reference frame from %s", path, exc,
                        "the start" if last is None else f"{last:.3f} s")
            continue
        except _Stalled:
            raise MediaError(path, f"cannot be decoded: the decoder made no progress for {timeout:g} s") from None
        except av.FFmpegError as exc:
            if last is None and start <= 0:
                raise MediaError(path, f"cannot be decoded: {reason(exc)}") from None
            log.warning("%s: PyAV cannot go on after %.3f s (%s)", path, last if last is not None else start,
                        reason(exc))
        break
    if last is None and start > 0:
        return  # a later span of a damaged file: nothing of it decodes (the first span tells the file is bad)
    if last is None:
        raise MediaError(path, "cannot be decoded: no frame decodes")


def display_size(info: VideoInfo, short_side: int) -> tuple[int, int]:
    """(width, height) of sampled frames: display aspect, short side ``short_side`` pixels."""
    w, h = info.display_width, info.display_height
    scale = short_side / min(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def large_size(info: VideoInfo, short_side: int, large_side: int) -> tuple[int, int] | None:
    """(width, height) of the larger copy: short side ``large_side``, at most the source's own short
    side; None when that is not larger than ``short_side`` (or ``large_side`` is 0)."""
    side = min(large_side, min(info.display_width, info.display_height))
    return display_size(info, side) if large_side > 0 and side > short_side else None


def _keyframe_gap(fps: float, info: VideoInfo) -> float:
    """The longest keyframe gap (s) at which keyframes alone serve as the samples (one frame of slack)."""
    return KEYFRAME_PERIODS / fps + 1.5 / max(info.fps, 1.0)


def keyframes_dense(path: str | os.PathLike, fps: float, info: VideoInfo) -> bool:
    """Whether no two keyframes of the video stream (nor the last one and the end) lie more than
    :data:`KEYFRAME_PERIODS` sample periods apart. Read from the seek index where it lists every
    frame (MP4/MOV: instant), else from the packets' key flags (demuxing only, stopping at the first
    long gap)."""
    limit = _keyframe_gap(fps, info)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = video_stream(container)
            unit = float(stream.time_base)
            index = stream.index_entries
            if len(index) >= max(2, 0.9 * info.frame_count):
                stamps = (e.timestamp for e in index if e.is_keyframe)
            else:
                stamps = (p.pts if p.pts is not None else p.dts for p in container.demux(stream)
                          if p.is_keyframe and (p.pts is not None or p.dts is not None))
            first = prev = None
            for ts in stamps:
                t = ts * unit
                if prev is not None and t - prev > limit:
                    return False
                first = t if first is None else first
                prev = t
    except (av.FFmpegError, ValueError, OSError) as exc:
        log.info("%s: cannot read its keyframes (%s); decoding every reference frame", path, reason(exc))
        return False
    return prev is not None and info.duration - (prev - first) <= limit


def bframes_unreferenced(path: str | os.PathLike, seconds: float = BFRAME_CHECK_S) -> bool:
    """Whether the video's I- and P-frames decode the same without its B-frames: over its first
    ``seconds``, a decode that skips every B-frame (``skip_frame="BIDIR"``) delivers each frame
    identical (every plane, every byte) to the same frame of a decode that skips only non-reference
    frames, at least one frame besides the first, and no two frames more than :data:`BFRAME_GAP` s
    apart. H.264 lets a P-frame refer to a reference B-frame (x264's B-pyramid makes them; its P-frames
    do not use them, other encoders' may): where one does, it would decode wrong without it.
    Remembered per file (path, size, modification time): the chunks of a distributed ingest that
    one worker decodes check their file once."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return _bframes_unreferenced(str(path), st.st_size, st.st_mtime_ns, seconds)


@functools.lru_cache(maxsize=64)
def _bframes_unreferenced(path: str, size: int, mtime_ns: int, seconds: float) -> bool:
    import hashlib

    def decoded(skip: str) -> Iterator[tuple[float, bytes | None]]:
        with open_container(str(path)) as container:
            stream = video_stream(container)
            stream.codec_context.skip_frame = skip
            origin, unit = stream.start_time or 0, float(stream.time_base)
            for frame in container.decode(stream):
                if frame.pts is None:
                    yield -1.0, None  # no stamps: nothing to match by
                    return
                t = round((frame.pts - origin) * unit, 6)
                if t > seconds:
                    return
                yield t, hashlib.blake2b(np.ascontiguousarray(frame.to_ndarray())).digest()

    try:
        without = dict(decoded("BIDIR"))
        times = sorted(without)
        if len(times) < 2 or None in without.values() or max(b - a for a, b in zip(times, times[1:])) > BFRAME_GAP:
            return False
        extra = same = 0  # frames the B-frames add; frames decoded alike
        for t, digest in decoded("NONREF"):  # stops at the first frame that differs
            if t not in without:
                extra += 1
            elif without[t] != digest:
                return False
            else:
                same += 1
        return extra > 0 and same == len(without)
    except (av.FFmpegError, ValueError, OSError, NotImplementedError) as exc:  # to_ndarray: not every pixel format
        log.info("%s: cannot check its B-frames (%s); decoding every reference frame", path, reason(exc))
        return False


class _NotKeyframes(Exception):
    """A keyframe-only decode delivered something that cannot stand in for the samples."""


def _keyframes_only(ordered: Iterator[tuple[float, av.VideoFrame]], gap: float, duration: float):
    """Pass keyframes through, verified as seeks are: each must be a key picture, not flagged
    corrupt, within ``gap`` s of the one before, the last within ``gap`` of ``duration`` (else
    :class:`_NotKeyframes`). An intra-refresh stream, for one, flags keyframes that the decoder
    does not deliver alone."""
    prev = None
    for t, frame in ordered:
        if not frame.key_frame or frame.is_corrupt:
            raise _NotKeyframes(f"the keyframe at {t:.3f} s decodes {'corrupt' if frame.is_corrupt else 'as a non-key picture'}")
        if prev is not None and t - prev > gap:
            raise _NotKeyframes(f"no keyframe decodes between {prev:.3f} and {t:.3f} s")
        prev = t
        yield t, frame
    if prev is None or duration - prev > gap:
        raise _NotKeyframes(f"no keyframe decodes after {prev or 0:.3f} s of {duration:.3f} s")


def _decord_chunks(path: str, targets: list[float], size: tuple[int, int], chunk: int) -> Iterator[list[Frame]]:
    reader = decord.VideoReader(path, width=size[0], height=size[1])
    if not _keyframes_agree(path, reader):
        raise ValueError("its keyframes disagree with the file's seek index")
    stamps = reader.get_frame_timestamp(range(len(reader)))[:, 0].astype(np.float64)
    if not (stamps.size and np.isfinite(stamps).all() and stamps[0] > -SLACK and (np.diff(stamps) >= 0).all()):
        raise ValueError("its frame timestamps are unusable")
    picks = np.unique(np.searchsorted(stamps, np.asarray(targets) - SLACK))
    picks = picks[picks < stamps.size].tolist()
    for start in range(0, len(picks), chunk):
        indices = picks[start : start + chunk]
        images = reader.get_batch(indices).asnumpy()
        yield [Frame(float(stamps[i]), image) for i, image in zip(indices, images)]


def _keyframes_agree(path: str, reader: decord.VideoReader) -> bool:
    """decord seeks to the frames that the demuxer flags as keyframes and assumes it lands there;
    libavformat seeks by the file's index. An MP4/MOV index lists every frame, its keyframes
    only the IDR frames. The H.264 parser also flags the non-IDR I-frames that x264 puts at scene
    cuts. decord then lands on an earlier frame and returns the wrong pictures without an error."""
    with av.open(path, metadata_errors="ignore") as container:
        index = video_stream(container).index_entries
        return len(index) != len(reader) or sum(e.is_keyframe for e in index) == len(reader.get_key_indices())


def _pyav_chunks(
    path: str, info: VideoInfo, targets: list[float], size: tuple[int, int], chunk: int,
    *, end: float | None = None, seek: bool = False, large: tuple[int, int] | None = None,
    keyframes: bool = False, loop_filter: bool = True, gap: float = math.inf, bidir: bool = False,
) -> Iterator[list[Frame]]:
    if not targets:
        return
    for margin in SEEK_MARGINS if seek else (None,):
        with open_container(path) as container:
            stream = _threaded_stream(container, info, frames=not keyframes)
            if keyframes:
                stream.codec_context.skip_frame = "NONKEY"
            elif info.container != "avi":
                stream.codec_context.skip_frame = "BIDIR" if bidir else "NONREF"
            if not loop_filter:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            ordered = _presentation_order(path, container, stream, info.fps, keyframes=keyframes)
            if keyframes:
                ordered = _keyframes_only(ordered, gap, info.duration)
            if margin is not None:
                if not _seek(container, stream, targets[0] - margin):
                    continue
                ordered = _clean_from_seek(ordered, targets[0] - SLACK)
            try:
                yield from _pick(ordered, info, targets, size, chunk, end, large)
            except _BadSeek as exc:  # raised before anything was yielded
                log.info("%s: seeking %g s before %.3f s: %s; %s", path, margin, targets[0], exc,
                         "decoding from the beginning" if margin == SEEK_MARGINS[-2] else "seeking earlier")
                continue
            return


class _BadSeek(Exception):
    """Decoding from the keyframe that a seek reached would not give the sequential frames."""


def _clean_from_seek(ordered: Iterator[tuple[float, av.VideoFrame]], start: float):
    """Pass frames through, checking those up to the first one at or after ``start``: the seek
    must land before ``start``, and none of them from the keyframe on may be flagged corrupt.
    FFmpeg flags every frame decoded from a keyframe that is not a clean random access point (a
    non-IDR I-frame listed as a sync sample, as in cockatoo.mp4) until the stream recovers. The
    leading pictures of an open GOP (shown before its keyframe, referring to the GOP before it)
    come out corrupt too; they lie before the keyframe, so they are dropped, not held against it."""
    seen = keyed = False
    try:
        for t, frame in ordered:
            if not seen and t >= start:
                raise _BadSeek(f"it landed at {t:.3f} s")
            seen = True
            keyed = keyed or frame.key_frame
            if frame.is_corrupt:
                if keyed or t >= start:
                    raise _BadSeek(f"the frame at {t:.3f} s decodes corrupt")
                continue  # a leading picture before the keyframe (and before start)
            yield t, frame
            if t >= start:
                break
    except av.FFmpegError as exc:
        raise _BadSeek(f"decoding failed ({reason(exc)})") from None
    if not seen:
        raise _BadSeek("nothing decodes after it")
    yield from ordered


def _seek(container, stream, t: float) -> bool:
    """Put the demuxer at the index keyframe at or before ``t`` seconds (False: it cannot seek)."""
    if t <= 0:
        return True
    origin, unit = stream.start_time or 0, float(stream.time_base)
    try:
        container.seek(origin + int(t / unit), stream=stream, backward=True, any_frame=False)
    except (av.FFmpegError, ValueError) as exc:
        log.info("%s: cannot seek (%s)", container.name, reason(exc))
        return False
    return True


def _threaded_stream(container, info: VideoInfo, frames: bool = True):
    """The container's video stream, decoded with frame threads (as many as :func:`_thread_cap`
    allows), or (``frames=False``) with slice threads only: keyframes alone, each decoded on its
    own, gain nothing from frame threads but their hand-over (0.3 CPU-s on 180 720p keyframes)."""
    stream = video_stream(container)
    stream.thread_type = "AUTO" if frames else "SLICE"
    threads = _thread_cap(info)
    if threads is not None:
        stream.codec_context.thread_count = threads
    return stream


def _thread_cap(info: VideoInfo) -> int | None:
    """Fewer decoder threads than FFmpeg's automatic choice (one per core, plus one) when that many
    would hold more than :data:`DECODE_MEMORY` of decoded frames; None: FFmpeg chooses."""
    frame_bytes = info.width * info.height * 3  # generous: 4:4:4 8-bit, plus padding
    auto = (os.cpu_count() or 1) + 1
    return None if frame_bytes * auto <= DECODE_MEMORY else max(1, DECODE_MEMORY // frame_bytes)


def _pick(ordered: Iterator[tuple[float, av.VideoFrame]], info: VideoInfo, targets: list[float],
          size: tuple[int, int], chunk: int, end: float | None,
          large: tuple[int, int] | None = None) -> Iterator[list[Frame]]:
    """The decoded frames that answer ``targets``, converted, in lists of ``chunk`` (the first ones
    shorter, from :data:`FIRST_CHUNK` up: a caller embeds and reads them while more decode, and
    the OCR gate hears its first reads after 4 frames, not 32) (also at
    ``large``, (width, height) after rotation, when given)."""
    width, height = size if info.rotation in (0, 180) else size[::-1]
    if large is not None:
        large = large if info.rotation in (0, 180) else large[::-1]
    frames: list[Frame] = []
    next_target = 0
    want = min(chunk, FIRST_CHUNK)  # the first chunks come sooner: the caller starts while more decode
    for t, frame in ordered:
        if end is not None and t >= end - SLACK:
            break  # this frame and later ones belong to the next span
        if t < targets[next_target] - SLACK:
            continue
        check_frame_size(info.path, frame.width, frame.height, f" at {t:.3f} s")
        image = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
        big = None
        if large is not None:
            big = _upright(frame.reformat(width=large[0], height=large[1], format="rgb24").to_ndarray(), info.rotation)
        frames.append(Frame(t, _upright(image, info.rotation), big))
        next_target = bisect.bisect_right(targets, t + SLACK, lo=next_target)  # past all this frame answers
        if next_target == len(targets):
            break
        if len(frames) == want:
            yield frames
            frames, want = [], min(chunk, 2 * want)
    if frames:
        yield frames


def _presentation_order(path: str, container, stream, fps: float, *,
                        keyframes: bool = False) -> Iterator[tuple[float, av.VideoFrame]]:
    """(seconds, frame) pairs until the end of the file or of its undamaged part. The decoder
    emits frames in presentation order; their stamps are right except in AVI (see the module
    notes), so the smallest pending stamp goes to the oldest pending frame. Frames without any
    stamp (raw streams) follow the previous one by 1/fps. ``keyframes``: only the packets the
    container flags as keyframes reach the decoder (it would skip the others anyway, at a cost)."""
    origin, unit = stream.start_time or 0, float(stream.time_base)
    pending: deque[av.VideoFrame] = deque()
    stamps: list[float] = []
    stamp, decoded = -1.0 / fps, 0
    try:
        for frame in (_keyframe_decode(container, stream) if keyframes else container.decode(stream)):
            stamp = (frame.pts - origin) * unit if frame.pts is not None else stamp + 1.0 / fps
            decoded += 1
            heapq.heappush(stamps, stamp)
            pending.append(frame)
            if len(pending) > REORDER:
                yield heapq.heappop(stamps), pending.popleft()
    except av.FFmpegError as exc:
        if not decoded:
            raise
        log.warning("%s: damaged after %.3f s (%s); the rest is skipped", path, stamp, reason(exc))
    while pending:
        yield heapq.heappop(stamps), pending.popleft()


def _keyframe_decode(container, stream) -> Iterator[av.VideoFrame]:
    """The frames of the packets flagged as keyframes (and of the final flush)."""
    for packet in container.demux(stream):
        if packet.is_keyframe or packet.size == 0:
            yield from packet.decode()


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn ``rotation`` degrees clockwise (np.rot90 turns counter-clockwise)."""
    return np.ascontiguousarray(np.rot90(image, -rotation // 90)) if rotation else image


def _watched(chunks: Iterator[list[Frame]], timeout: float) -> Iterator[list[Frame]]:
    """Advance ``chunks`` one chunk at a time in a daemon thread, raising _Stalled when a chunk
    takes longer than ``timeout`` seconds. A stalled step is left running, never touched again."""
    while (frames := _within(timeout, next, chunks, None)) is not None:
        yield frames


def _within(timeout: float, fn: Callable, *args):
    outcome: list = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, fn(*args)))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="vidsearch-decode", daemon=True).start()
    if not done.wait(timeout):
        raise _Stalled(f"no progress for {timeout:g} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def prefetched(chunks: Iterator[list], depth: int = 2) -> Iterator[list]:
    """Run the decoder up to ``depth`` chunks ahead in a thread (PyAV and decord release the GIL
    while they decode and scale), so the next chunk decodes while the caller embeds this one;
    exceptions (MediaError, a stalled decoder) come out where they would have. Memory: at most
    ``depth + 1`` chunks of small frames in flight. Stopping early (the caller's exception, or a
    generator closed) stops the thread after the chunk in progress."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for c in chunks:
                while not stop.is_set():
                    try:
                        box.put((c, None), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((None, None))
        except BaseException as exc:  # handed to the consumer
            box.put((None, exc))

    thread = threading.Thread(target=produce, name="vidsearch-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            c, exc = box.get()
            if exc is not None:
                raise exc
            if c is None:
                return
            yield c
    finally:
        stop.set()


def frame_at(path: str, info: VideoInfo, t: float) -> Frame:
    """The frame shown from ``t`` seconds on: the first decoded frame at or after ``t`` (the last
    frame when ``t`` lies past it), at full display size (pixel aspect and rotation applied), with
    its own timestamp. Exact: every frame is decoded (no ``skip_frame``) from a keyframe whose decode
    is clean, found as spans find theirs (2 s before, 10 s before, else from the beginning)."""
    margins = [m for m in SEEK_MARGINS if m is not None and t - m > 0] + [None]
    width = max(1, round(info.width * info.sample_aspect))
    for margin in margins:
        with open_container(path) as container:
            stream = _threaded_stream(container, info)
            ordered = _presentation_order(path, container, stream, info.fps)
            if margin is not None:
                if not _seek(container, stream, t - margin):
                    continue
                ordered = _clean_from_seek(ordered, t - SLACK)
            last = None
            try:
                for stamp, frame in ordered:
                    last = (stamp, frame)
                    if stamp >= t - SLACK:
                        break
            except _BadSeek as exc:
                log.info("%s: seeking %g s before %.3f s: %s", path, margin, t, exc)
                continue
            except av.FFmpegError as exc:
                raise MediaError(path, f"cannot be decoded at {t:.3f} s ({reason(exc)})") from None
            if last is None:
                raise MediaError(path, f"no frame decodes at {t:.3f} s")
            stamp, frame = last
            check_frame_size(path, frame.width, frame.height, f" at {stamp:.3f} s")
            image = frame.reformat(width=width, height=info.height, format="rgb24").to_ndarray()
            return Frame(stamp, _upright(image, info.rotation))
    raise MediaError(path, f"no frame decodes at {t:.3f} s")
