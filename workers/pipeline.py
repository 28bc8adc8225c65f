"""The work of the Celery tasks, without Celery: prepare a video, index one chunk, finalise.

A video is split into spans of ``VIDSEARCH_CHUNK_SECONDS`` (the spans' boundaries are sample
targets, so the spans' frames add up to the video's sequential decode: see
:mod:`vidsearch.media.decode`). Each chunk runs a fresh
:class:`~vidsearch.ingest.indexer.SpanIndexer` on its span and hands its batches to the
:class:`~workers.writer.Writer`. Segment indexes are start times in milliseconds and point ids are
deterministic, so chunks never collide and a chunk done twice (a worker killed mid-chunk, a
redelivered task) rewrites the same points. A segment never crosses a chunk boundary: a
distributed ingest has one more segment cut per chunk than the in-process one.

Errors: :class:`~vidsearch.media.errors.MediaError` is permanent (the job fails with the reason);
:func:`is_transient` errors (Redis or Qdrant unreachable) propagate so that the task retries with
backoff; anything else fails the job as an internal error with its type and message.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from vidsearch.catalog import content_id
from vidsearch.media.errors import MediaError

from .jobs import TRANSIENT_REDIS, Job, JobStore
from .writer import Writer

log = logging.getLogger(__name__)

MAX_RUNS = 5  # a chunk started this many times without finishing fails the job (it kills its worker)


class Backpressure(Exception):
    """Too many results wait for the embedded store's owner: try this chunk again later."""


def is_transient(exc: BaseException) -> bool:
    """Connection trouble that a later try may not meet: Redis or the Qdrant server unreachable."""
    if isinstance(exc, TRANSIENT_REDIS) or isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, ResponseHandlingException):
        return True
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code is not None and (exc.status_code >= 500 or exc.status_code == 429)
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, httpx.TransportError)


def plan_spans(duration: float, fps: float, chunk_seconds: float) -> list[list[float | None]]:
    """``[[start, end], ..., [start, None]]``: spans of ``chunk_seconds`` whose boundaries are
    sample targets ``k / fps`` (the last span is open-ended: it takes every frame after it)."""
    targets = max(1, math.ceil(duration * fps))
    per = max(1, int(round(chunk_seconds * fps)))
    starts = list(range(0, targets, per))
    spans: list[list[float | None]] = []
    for i, k in enumerate(starts):
        end = starts[i + 1] / fps if i + 1 < len(starts) else None
        spans.append([k / fps, end])
    return spans


@dataclass
class Context:
    """What a worker process (or a test) needs to run the pipeline."""

    settings: Any
    jobs: JobStore
    writer: Writer
    encoders: Any
    enqueue_chunk: Callable[[Job, int], None]
    enqueue_finalize: Callable[[Job], None]
    store: Any = None  # direct mode: the store (finalise counts its points)
    passthrough: tuple = ()  # exceptions the caller handles itself (Celery's soft time limit)


def _fail(ctx: Context, job: Job, reason: str) -> None:
    if ctx.jobs.finish(job.id, job.attempt, "failed", error=reason):
        log.warning("job %s failed: %s", job.id, reason)
        try:
            if job.video_id:
                ctx.writer.discard(job)
        except Exception as exc:  # the failure is recorded; stray points are invisible to search
            log.warning("job %s: could not remove its partial results: %s", job.id, exc)


def _guard(ctx: Context, job: Job, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except MediaError as exc:
        _fail(ctx, job, str(exc))
    except Backpressure:
        raise
    except Exception as exc:
        if isinstance(exc, ctx.passthrough):
            raise
        if is_transient(exc):
            raise
        log.exception("job %s (%s) failed", job.id, job.path)
        _fail(ctx, job, f"{job.path}: internal error: {type(exc).__name__}: {exc}")
    return None


# ------------------------------------------------------------------------------------------------
def prepare(ctx: Context, job_id: str, attempt: int) -> str:
    """Hash and probe the file, split it into spans, reset the store for it, queue its chunks."""
    job = ctx.jobs.get(job_id)
    if job is None:
        log.warning("job %s is gone (its record was removed or Redis lost it)", job_id)
        return "gone"
    if job.attempt != attempt:
        return "stale"
    if job.status == "queued":
        ctx.jobs.start(job_id, attempt)
        job = ctx.jobs.get(job_id)
    if job is None or job.status != "running" or job.attempt != attempt:
        return "stale"
    return _guard(ctx, job, lambda: _prepare(ctx, job)) or "failed"


def _prepare(ctx: Context, job: Job) -> str:
    from vidsearch.media import probe

    s = ctx.settings
    path = job.path
    try:
        st = os.stat(path)
    except OSError as exc:
        raise MediaError(path, "file not found" if isinstance(exc, FileNotFoundError) else str(exc)) from None
    if not os.path.isfile(path):
        raise MediaError(path, "not a regular file")
    if job.spans is None:  # first prepare of this attempt (a redelivered one skips to queueing)
        video_id = job.video_id or content_id(path)
        if not job.force and ctx.jobs.is_indexed(video_id):
            ctx.jobs.finish(job.id, job.attempt, "skipped", video_id=video_id, note="already indexed")
            return "skipped"
        other = ctx.jobs.claim_video(video_id, job.id)
        if other is not None:
            ctx.jobs.finish(job.id, job.attempt, "skipped", video_id=video_id,
                            note=f"the same video is being indexed by job {other}")
            return "skipped"
        ctx.jobs.set_if_current(job.id, job.attempt, video_id=video_id)
        job.video_id = video_id
        info = probe(path)
        spans = plan_spans(info.duration, s.sample_fps, s.chunk_seconds)
        ctx.jobs.forget_video(video_id)  # its old points go now: a later ingest must not skip it
        ctx.writer.reset(job)
        if not ctx.jobs.set_if_current(job.id, job.attempt, info=asdict(info), duration=info.duration,
                                       chunks=len(spans), spans=spans, writer=ctx.writer.kind,
                                       size=st.st_size, mtime=st.st_mtime):
            return "stale"  # cancelled meanwhile
        job = ctx.jobs.get(job.id)
    done = ctx.jobs.done_chunks(job.id, job.attempt)
    for index in range(job.chunks):
        if index not in done:
            ctx.enqueue_chunk(job, index)
    if len(done) >= job.chunks:  # a redelivered prepare after every chunk was written
        ctx.enqueue_finalize(job)
    return "prepared"


# ------------------------------------------------------------------------------------------------
def run_chunk(ctx: Context, job_id: str, attempt: int, index: int) -> str:
    """Decode, segment and embed one span; hand every batch to the writer; commit the chunk."""
    job = ctx.jobs.get(job_id)
    if job is None or job.attempt != attempt or job.status != "running" or job.spans is None:
        return "stale"
    if index in ctx.jobs.done_chunks(job_id, attempt):
        if len(ctx.jobs.done_chunks(job_id, attempt)) >= job.chunks:
            ctx.enqueue_finalize(job)
        return "already done"
    backlog = ctx.writer.backlog_bytes()
    if backlog > ctx.settings.relay_max_mb * 2**20:
        raise Backpressure(f"{backlog / 2**20:.0f} MB of results wait for the store's owner")
    runs = ctx.jobs.chunk_started(job_id, attempt, index)
    start, end = job.spans[index]
    if runs > MAX_RUNS:
        _fail(ctx, job, f"{job.path}: chunk {index} ({start:g}-{end if end is not None else job.duration:g} s) "
                        f"was started {runs - 1} times and never finished: it crashes or outlives its worker")
        return "failed"
    outcome = "failed"
    try:
        outcome = _guard(ctx, job, lambda: _run_chunk(ctx, job, index, start, end)) or "failed"
    finally:
        if outcome != "done":  # stopped (cancelled, failed, or an error that Celery retries)
            try:
                ctx.jobs.chunk_left(job_id, attempt, index)
            except Exception:  # Redis away: the entry goes stale; nothing counts on it
                pass
    return outcome


def _run_chunk(ctx: Context, job: Job, index: int, start: float, end: float | None) -> str:
    from vidsearch.ingest.indexer import SpanIndexer
    from vidsearch.media import prefetched, sample_frames
    from vidsearch.records import VideoInfo

    s = ctx.settings
    t0 = time.perf_counter()
    started = time.time()
    info = VideoInfo(**job.info)
    indexer = SpanIndexer(s, ctx.encoders, job.video_id, ctx.writer.thumbnails_dir(job, index))
    frames = prefetched(sample_frames(job.path, info, fps=s.sample_fps, short_side=s.frame_size, chunk=s.decode_chunk,
                                      timeout=s.decode_timeout, decoder=s.decoder, start=start, end=end,
                                      skip_loop_filter=s.skip_loop_filter, skip_bframes=s.skip_bframes), depth=1)
    segments = batches = 0
    decode_s = write_s = 0.0
    t = time.perf_counter()
    for chunk in frames:
        decode_s += time.perf_counter() - t
        if not ctx.jobs.is_current(job.id, job.attempt):
            return "cancelled"
        batch = indexer.feed(chunk)
        t = time.perf_counter()
        ctx.writer.write(job, index, batch)
        write_s += time.perf_counter() - t
        segments += len(batch.segments)
        batches += 1
        ctx.jobs.chunk_progress(job.id, job.attempt, index, batches, started)
        t = time.perf_counter()
    batch = indexer.finish(end if end is not None else info.duration)
    if not ctx.jobs.is_current(job.id, job.attempt):
        return "cancelled"
    t = time.perf_counter()
    ctx.writer.write(job, index, batch)
    write_s += time.perf_counter() - t
    segments += len(batch.segments)
    stop = end if end is not None else max(info.duration, start)
    stats = {
        "samples": indexer.samples, "keyframes": indexer.keyframes, "segments": segments,
        "start": start, "end": stop, "seconds": stop - start, "worker": f"{socket.gethostname()}:{os.getpid()}",
        "wall_s": round(time.perf_counter() - t0, 4),
        "times": {"decode": round(decode_s, 4), "write": round(write_s, 4),
                  **{k: round(v, 4) for k, v in indexer.times.items()}},
        "started": started,
    }
    ctx.writer.commit(job, index, stats)
    return "done"


# ------------------------------------------------------------------------------------------------
def finalize(jobs: JobStore, store, job_id: str, attempt: int) -> str:
    """Mark the job done once every chunk is written, after checking the store holds exactly the
    points the chunks wrote (``store``: None skips the check). Safe to call any number of times."""
    job = jobs.get(job_id)
    if job is None or job.attempt != attempt or job.status != "running" or not job.chunks:
        return "stale"
    stats = jobs.chunk_stats(job_id, attempt)
    if len(stats) < job.chunks:
        return "incomplete"
    samples = sum(x["samples"] for x in stats.values())
    keyframes = sum(x["keyframes"] for x in stats.values())
    segments = sum(x["segments"] for x in stats.values())
    if samples == 0:
        jobs.finish(job_id, attempt, "failed", error=f"{job.path}: cannot be decoded: no frame decodes")
        return "failed"
    if store is not None:
        store.flush()
        frames_in, segments_in = store.count_frames(job.video_id), store.count_segments(job.video_id)
        if (frames_in, segments_in) != (keyframes, segments):
            jobs.finish(job_id, attempt, "failed", samples=samples, keyframes=keyframes, segments=segments,
                        error=f"{job.path}: the index holds {frames_in} frames and {segments_in} segments of "
                              f"this video, but its chunks wrote {keyframes} and {segments}; index it again")
            return "failed"
    jobs.finish(job_id, attempt, "done", samples=samples, keyframes=keyframes, segments=segments)
    return "done"
