"""The local side of distributed ingestion: the process that owns the data folder.

Two duties, run by :class:`OwnerLoop` in ``vidsearch serve`` and ``vidsearch ingest --wait``:

1. **Relay** (embedded store only): :class:`RelayOwner` reads the workers' results from the Redis
   stream ``P:relay`` (consumer group ``owner``, consumer ``owner``), writes them to the store, and
   acknowledges and deletes each message after writing it. A ``chunk`` message marks the chunk done
   in Redis (the data before it in the stream is written by then); the last one finalises the job
   after counting the video's points in the store. An owner that dies mid-way re-reads its
   unacknowledged messages when it starts again (``XREADGROUP ... 0``), and rewriting them is
   harmless (deterministic ids). Messages of an attempt that is no longer current (cancelled,
   retried) are dropped; ``discard`` messages remove a failed attempt's points.
2. **Catalog**: the catalog is SQLite in the data folder, so only processes on this machine write
   it. :func:`sync_catalog` applies the state of every job in ``P:unsynced`` to it (``running`` ->
   ``indexing``, ``done`` -> ``indexed`` with the counts and the probe, ``failed``/``cancelled`` ->
   ``failed`` with the reason), then takes terminal jobs off the set. Any process that opens the
   library with a broker configured also syncs once. A catalog shared by several machines would
   need a server database (Postgres); that is not built (docs/scaling.md).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import redis

from vidsearch.catalog import Catalog, VideoRecord

from . import codec
from .jobs import TERMINAL, TRANSIENT_REDIS, Job, JobStore
from .pipeline import finalize
from .writer import write_batch

log = logging.getLogger(__name__)

GROUP = "owner"
CONSUMER = "owner"


class RelayOwner:
    """Drains ``P:relay`` into ``store`` (the embedded store this process owns)."""

    def __init__(self, settings, store, jobs: JobStore):
        self.settings = settings
        self.store = store
        self.jobs = jobs
        self.stream = jobs.key("relay")
        self.bytes_key = jobs.key("relay", "bytes")
        self._backlog_first = True  # read this consumer's unacknowledged messages first
        self._jobs: dict[str, Job | None] = {}
        self.stats = {"messages": 0, "batches": 0, "bytes": 0, "thumbnail_bytes": 0, "write_s": 0.0, "decode_s": 0.0}
        self._ensure_group()

    def _ensure_group(self) -> None:
        try:
            self.jobs.r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def drain(self, block_ms: int = 500, count: int = 32) -> int:
        """Process the messages that are there (waiting up to ``block_ms`` for the first); returns
        how many were processed."""
        try:
            if self._backlog_first:
                got = self.jobs.r.xreadgroup(GROUP, CONSUMER, {self.stream: "0"}, count=count)
                if not got or not got[0][1]:
                    self._backlog_first = False
                    return 0
            else:
                got = self.jobs.r.xreadgroup(GROUP, CONSUMER, {self.stream: ">"}, count=count,
                                             block=block_ms if block_ms > 0 else None)  # BLOCK 0 waits for ever
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis lost its data (restarted without persistence)
                self._ensure_group()
                return 0
            raise
        done = 0
        self._jobs.clear()
        for _stream, messages in got or []:
            for msg_id, fields in messages:
                size = self._handle({k.decode(): v for k, v in fields.items()})
                pipe = self.jobs.r.pipeline()
                pipe.xack(self.stream, GROUP, msg_id)
                pipe.xdel(self.stream, msg_id)
                if size:
                    pipe.decrby(self.bytes_key, size)
                pipe.execute()
                done += 1
        return done

    def _job(self, job_id: str) -> Job | None:
        if job_id not in self._jobs:
            self._jobs[job_id] = self.jobs.get(job_id)
        return self._jobs[job_id]

    def _handle(self, f: dict[str, bytes]) -> int:
        """Apply one message; returns the payload bytes it carried."""
        kind, job_id = f["kind"].decode(), f["job"].decode()
        attempt, index = int(f["attempt"]), int(f["chunk"])
        data = f.get("data", b"")
        self.stats["messages"] += 1
        job = self._job(job_id)
        if job is None or job.attempt != attempt:
            return len(data)
        if kind == "discard":
            if job.status in ("failed", "cancelled") and job.video_id:
                self.store.delete_video(job.video_id)
                self.store.flush()
                shutil.rmtree(self.settings.thumbnails_dir / job.video_id, ignore_errors=True)
            return 0
        if job.status != "running":
            return len(data)
        thumbs_dir = self.settings.thumbnails_dir / job.video_id
        if kind == "reset":
            self.store.delete_video(job.video_id)
            self.store.flush()
            shutil.rmtree(thumbs_dir, ignore_errors=True)
        elif kind == "batch":
            t0 = time.perf_counter()
            batch, thumbs = codec.decode(data)
            t1 = time.perf_counter()
            if thumbs:
                thumbs_dir.mkdir(parents=True, exist_ok=True)
            for name, jpeg in thumbs.items():
                (thumbs_dir / name).write_bytes(jpeg)
            for seg in batch.segments:
                if seg.thumbnail:
                    seg.thumbnail = str(thumbs_dir / Path(seg.thumbnail).name)
            write_batch(self.store, job, batch)
            self.stats["batches"] += 1
            self.stats["bytes"] += len(data)
            self.stats["thumbnail_bytes"] += sum(len(j) for j in thumbs.values())
            self.stats["decode_s"] += t1 - t0
            self.stats["write_s"] += time.perf_counter() - t1
        elif kind == "chunk":
            self.store.flush()
            stats = json.loads(f["stats"])
            done, total = self.jobs.chunk_done(job_id, attempt, index, stats)
            if total and done >= total:
                finalize(self.jobs, self.store, job_id, attempt)
                self._jobs.pop(job_id, None)
        return len(data)


# ------------------------------------------------------------------------------------------------
_CATALOG_STATUS = {"queued": "queued", "running": "indexing", "done": "indexed", "failed": "failed",
                   "cancelled": "failed"}


def sync_catalog(catalog: Catalog, jobs: JobStore) -> int:
    """Apply every unsynced job's state to the catalog; returns how many jobs were applied."""
    n = 0
    for job_id in jobs.unsynced():
        job = jobs.get(job_id)
        if job is None:
            jobs.synced(job_id)
            continue
        if job.video_id:
            _apply(catalog, job)
            n += 1
        if job.status in TERMINAL:
            jobs.synced(job_id)
    return n


def sync_settings(settings, catalog: Catalog) -> int:
    """:func:`sync_catalog` for a library being opened: Redis unreachable is a warning, not an error."""
    try:
        return sync_catalog(catalog, JobStore.from_settings(settings, patient=False))
    except TRANSIENT_REDIS as exc:
        log.warning("cannot reach Redis at %s to take in finished jobs: %s", settings.broker_url, exc)
        return 0


def forget_video(settings, video_id: str) -> None:
    """A deleted video: workers must not skip it as indexed when it is ingested again."""
    try:
        JobStore.from_settings(settings, patient=False).forget_video(video_id)
    except TRANSIENT_REDIS as exc:
        log.warning("cannot reach Redis at %s: %s (a later ingest of %s through the workers may skip it; "
                    "use --force)", settings.broker_url, exc, video_id)


def _apply(catalog: Catalog, job: Job) -> None:
    rec = catalog.get(job.video_id)
    if job.status == "skipped":
        if rec is not None and rec.path != job.path and not os.path.exists(rec.path):
            rec.path, rec.size, rec.mtime = job.path, job.size, job.mtime
            catalog.upsert(rec)
        return
    status = _CATALOG_STATUS[job.status]
    if job.status == "queued" and rec is not None:
        return  # not started yet: the record keeps what it says
    info = job.info or {}
    catalog.upsert(VideoRecord(
        id=job.video_id, path=job.path, status=status, size=job.size, mtime=job.mtime,
        duration=job.duration, fps=info.get("fps"), width=info.get("display_width"),
        height=info.get("display_height"), error=job.error if status == "failed" else None,
        frames=job.keyframes, segments=job.segments, info=job.info or None,
        added_at=rec.added_at if rec else job.created,
        indexed_at=job.finished if status == "indexed" else (rec.indexed_at if rec else None),
        camera=job.camera, wall_start=job.wall_start,
    ))


# ------------------------------------------------------------------------------------------------
class OwnerLoop:
    """A daemon thread: drain the relay (when given the embedded store) and sync the catalog.

    ``store``: the embedded store this process owns (the relay is drained into it), or None (a
    Qdrant server: workers write it themselves; only the catalog is synced)."""

    def __init__(self, settings, store=None, *, interval: float = 0.5):
        self.settings = settings
        self.store = store
        self.interval = interval
        self.jobs = JobStore.from_settings(settings)
        self.relay = RelayOwner(settings, store, self.jobs) if store is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.last_error: str | None = None

    def step(self, catalog: Catalog, block_ms: int = 200) -> int:
        """One round: heartbeat, drain what is there, sync the catalog. Returns messages handled."""
        n = 0
        if self.relay is not None:
            self.jobs.heartbeat("owner", ttl=10.0, data_dir=str(self.settings.data_dir))
            while True:
                got = self.relay.drain(block_ms=block_ms)
                n += got
                if not got:
                    break
                block_ms = 0
        else:
            time.sleep(block_ms / 1000)
        sync_catalog(catalog, self.jobs)
        return n

    def settle(self, catalog: Catalog, quiet: float = 1.0, limit: float = 15.0) -> None:
        """Drain until the relay has been empty for ``quiet`` seconds (at most ``limit``): a failed
        job's ``discard`` follows its failure by a moment."""
        deadline = time.monotonic() + limit
        empty_since = None
        while time.monotonic() < deadline:
            if self.step(catalog, block_ms=200) or self.jobs.r.xlen(self.relay.stream):
                empty_since = None
            elif empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since >= quiet:
                return

    def _run(self) -> None:
        catalog = Catalog(self.settings.catalog_path)
        try:
            while not self._stop.is_set():
                try:
                    self.step(catalog, block_ms=int(self.interval * 1000))
                except TRANSIENT_REDIS as exc:
                    self.errors += 1
                    self.last_error = str(exc)
                    log.warning("owner loop: Redis unreachable (%s); trying again", exc)
                    self._stop.wait(1.0)
                except Exception as exc:  # keep serving; say why
                    self.errors += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("owner loop failed; trying again")
                    self._stop.wait(1.0)
        finally:
            try:
                if self.relay is not None:
                    self.jobs.clear_heartbeat("owner")
            except Exception:
                pass
            catalog.close()

    def start(self) -> "OwnerLoop":
        self._thread = threading.Thread(target=self._run, name="vidsearch-owner", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
