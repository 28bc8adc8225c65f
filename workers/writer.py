"""Who writes a chunk's results: the same task code for both store set-ups.

:class:`DirectWriter`
    With a Qdrant server (``VIDSEARCH_QDRANT_URL``) every worker writes its chunks itself, then
    records the chunk as done in Redis. Thumbnails go to the data folder's ``thumbnails/``, which
    the web server must see too (one machine, or a shared volume as in ``compose.yaml``).

:class:`RedisRelayWriter`
    With the embedded store, only the process that owns the data folder may open the store (the
    ``vidsearch serve`` process, or a ``vidsearch ingest --wait`` process). Workers push each batch
    -- keyframe and segment vectors, segment records and thumbnail JPEGs, serialised by
    :mod:`workers.codec` -- to one Redis stream, ``P:relay``, and then a ``chunk`` message saying
    that the chunk is complete. The owner (:class:`workers.owner.RelayOwner`) reads the stream
    in order through a consumer group, writes each batch, and acknowledges (and deletes) a message
    only after writing it; it marks a chunk done when it has written that chunk's ``chunk`` message,
    so "done" always means "in the store". An owner that dies re-reads its unacknowledged messages
    when it starts again; writes are idempotent (deterministic point ids), so nothing is doubled.

    Cost: the vectors travel twice through Redis (in and out) and sit in Redis memory until the
    owner has written them (2 kB per keyframe, 7.2 kB with the semantic vector, see
    :mod:`workers.codec`); one process does all the writing. Workers pause a chunk (it is queued
    again 10 s later) while more than ``VIDSEARCH_RELAY_MAX_MB`` wait for the owner, so a stopped
    owner cannot fill Redis. Measured figures: docs/benchmarks.md, "Distributed ingestion".
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from vidsearch.ingest.indexer import Batch

from . import codec
from .jobs import Job, JobStore

log = logging.getLogger(__name__)


class Writer(ABC):
    kind: str = ""

    @abstractmethod
    def thumbnails_dir(self, job: Job, index: int) -> Path:
        """Where the chunk's SpanIndexer saves its thumbnails."""

    @abstractmethod
    def reset(self, job: Job) -> None:
        """Remove whatever an earlier run stored for ``job.video_id`` (before any chunk runs)."""

    @abstractmethod
    def write(self, job: Job, index: int, batch: Batch) -> None:
        """Store (or send to the store's owner) what a batch of chunk ``index`` made final."""

    @abstractmethod
    def commit(self, job: Job, index: int, stats: dict) -> None:
        """Chunk ``index`` is complete: once its results are in the store, record it as done."""

    @abstractmethod
    def discard(self, job: Job) -> None:
        """Remove the points of a failed or cancelled attempt."""

    def backlog_bytes(self) -> int:
        """Bytes of results waiting for another process to write them (0 when writing directly)."""
        return 0

    def close(self) -> None:
        pass


class DirectWriter(Writer):
    """Writes into a store this process may open (a Qdrant server)."""

    kind = "direct"

    def __init__(self, settings, store, jobs: JobStore, on_complete: Callable[[Job], None]):
        self.settings = settings
        self.store = store
        self.jobs = jobs
        self.on_complete = on_complete

    def thumbnails_dir(self, job: Job, index: int) -> Path:
        folder = self.settings.thumbnails_dir / job.video_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def reset(self, job: Job) -> None:
        self.store.delete_video(job.video_id)
        self.store.flush()
        shutil.rmtree(self.settings.thumbnails_dir / job.video_id, ignore_errors=True)

    def write(self, job: Job, index: int, batch: Batch) -> None:
        write_batch(self.store, job, batch)

    def commit(self, job: Job, index: int, stats: dict) -> None:
        self.store.flush()
        done, total = self.jobs.chunk_done(job.id, job.attempt, index, stats)
        if total and done >= total:
            self.on_complete(job)

    def discard(self, job: Job) -> None:
        if job.video_id:
            self.store.delete_video(job.video_id)
            self.store.flush()
            shutil.rmtree(self.settings.thumbnails_dir / job.video_id, ignore_errors=True)

    def close(self) -> None:
        self.store.close()


def write_batch(store, job: Job, batch: Batch, thumbnails: Path | None = None) -> None:
    """Upsert a batch's keyframes and segments (with the job's camera and wall-clock start)."""
    if batch.keyframes:
        extra = {k: v for k, v in (("camera", job.camera), ("wall_start", job.wall_start)) if v is not None}
        store.upsert_frames(job.video_id, batch.keyframes, **extra)
    if batch.segments:
        store.upsert_segments(job.video_id, batch.segments, batch.segment_vectors)


class RedisRelayWriter(Writer):
    """Sends results to the embedded store's owner through the Redis stream ``P:relay``."""

    kind = "relay"

    def __init__(self, settings, jobs: JobStore):
        self.settings = settings
        self.jobs = jobs
        self.stream = jobs.key("relay")
        self.bytes_key = jobs.key("relay", "bytes")
        self._staging = Path(tempfile.mkdtemp(prefix=f"vidsearch-thumbs-{os.getpid()}-"))

    def thumbnails_dir(self, job: Job, index: int) -> Path:
        folder = self._staging / f"{job.id}-{job.attempt}-{index}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def _add(self, fields: dict, size: int = 0) -> None:
        pipe = self.jobs.r.pipeline()  # MULTI/EXEC: the message and the byte count go together
        pipe.xadd(self.stream, fields)
        if size:
            pipe.incrby(self.bytes_key, size)
        pipe.execute()

    def _head(self, kind: str, job: Job, index: int = -1) -> dict:
        return {"kind": kind, "job": job.id, "attempt": job.attempt, "chunk": index, "video": job.video_id or ""}

    def reset(self, job: Job) -> None:
        self._add(self._head("reset", job))

    def write(self, job: Job, index: int, batch: Batch) -> None:
        if not batch.keyframes and not batch.segments:
            return
        thumbs: dict[str, bytes] = {}
        for seg in batch.segments:
            if seg.thumbnail:
                p = Path(seg.thumbnail)
                try:
                    thumbs[p.name] = p.read_bytes()
                    p.unlink()
                except OSError:
                    log.warning("thumbnail %s of %s is missing", p, job.path)
                seg.thumbnail = p.name
        data = codec.encode(batch, thumbs)
        self._add({**self._head("batch", job, index), "data": data}, len(data))

    def commit(self, job: Job, index: int, stats: dict) -> None:
        self._add({**self._head("chunk", job, index), "stats": json.dumps(stats)})
        shutil.rmtree(self._staging / f"{job.id}-{job.attempt}-{index}", ignore_errors=True)

    def discard(self, job: Job) -> None:
        self._add(self._head("discard", job))

    def backlog_bytes(self) -> int:
        return int(self.jobs.r.get(self.bytes_key) or 0)

    def close(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)
