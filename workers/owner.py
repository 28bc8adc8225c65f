"""The local side of distributed ingestion: the process that owns the data folder.

Its duties, run by :class:`OwnerLoop` in ``vidsearch serve`` and ``vidsearch ingest --wait``:

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
3. **Lost chunks** (:mod:`workers.redelivery`): a running job's chunk whose message is in no queue
   and with no worker (taken from the queue at the moment Redis stopped) is sent again.
4. **Lost jobs**: the loop remembers the active job of every video it applied. When that job's
   record is gone from Redis (restarted without persistence) while the catalog still says
   ``queued``/``indexing``, the video is queued again as a new job (``vidsearch serve``), or marked
   ``failed`` saying so when it cannot be (its file is gone; ``ingest --wait``, which stops soon).
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
from .jobs import ACTIVE, TERMINAL, TRANSIENT_REDIS, Job, JobStore
from .pipeline import finalize
from .redelivery import Redelivery
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


def sync_catalog(catalog: Catalog, jobs: JobStore, seen: dict[str, Job] | None = None) -> int:
    """Apply every unsynced job's state to the catalog; returns how many jobs were applied (and puts
    them in ``seen``, by job id)."""
    n = 0
    for job_id in jobs.unsynced():
        job = jobs.get(job_id)
        if job is None:
            jobs.synced(job_id)
            continue
        if job.video_id:
            _apply(catalog, job)
            n += 1
            if seen is not None:
                seen[job.id] = job
        if job.status in TERMINAL:
            jobs.synced(job_id)
    return n


def indexed_videos(seen: dict[str, Job]) -> list[str]:
    """The videos whose jobs, among those just applied, finished indexing."""
    return [job.video_id for job in seen.values() if job.status == "done" and job.video_id]


def sync_settings(settings, catalog: Catalog) -> list[str]:
    """:func:`sync_catalog` for a library being opened: Redis unreachable is a warning, not an error.
    Returns the videos the workers finished indexing since the last sync."""
    seen: dict[str, Job] = {}
    try:
        sync_catalog(catalog, JobStore.from_settings(settings, patient=False), seen)
    except TRANSIENT_REDIS as exc:
        log.warning("cannot reach Redis at %s to take in finished jobs: %s", settings.broker_url, exc)
    return indexed_videos(seen)


def forget_video(settings, video_id: str) -> None:
    """A deleted video: workers must not skip it as indexed when it is ingested again."""
    try:
        JobStore.from_settings(settings, patient=False).forget_video(video_id)
    except TRANSIENT_REDIS as exc:
        log.warning("cannot reach Redis at %s: %s (a later ingest of %s through the workers may skip it; "
                    "use --force)", settings.broker_url, exc, video_id)


class RedisJobs:
    """The job records in Redis as :class:`vidsearch.library.Library` uses them (``jobs=``)."""

    def __init__(self, settings) -> None:
        self.settings = settings

    def sync(self, catalog: Catalog) -> list[str]:
        return sync_settings(self.settings, catalog)

    def forget(self, video_id: str) -> None:
        forget_video(self.settings, video_id)


def library_jobs(settings) -> RedisJobs | None:
    """What a :class:`vidsearch.library.Library` opened with these settings takes as ``jobs``."""
    return RedisJobs(settings) if settings.broker_url else None


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
LOST = "its ingest job's state is gone from Redis (restarted without its data?)"


class OwnerLoop:
    """A daemon thread: drain the relay (when given the embedded store), sync the catalog, and
    recover the videos whose job Redis lost.

    ``store``: the embedded store this process owns (the relay is drained into it), or None (a
    Qdrant server: workers write it themselves; only the catalog is synced). ``requeue_lost``: queue
    a lost job's video again (a process that keeps running); otherwise it is marked failed."""

    def __init__(self, settings, store=None, *, interval: float = 0.5, requeue_lost: bool = True,
                 on_indexed=None):
        """``on_indexed(video_id)``: called for each video whose job finished (the watchlists check it)."""
        self.settings = settings
        self.on_indexed = on_indexed
        self.store = store
        self.interval = interval
        self.requeue_lost = requeue_lost
        self.jobs = JobStore.from_settings(settings)
        self.relay = RelayOwner(settings, store, self.jobs) if store is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: dict[str, Job] = {}  # video id -> its active job, as last applied to the catalog
        self._client = None
        self.errors = 0
        self.last_error: str | None = None
        self.requeued: list[tuple[str, str]] = []  # (lost job id, new job id)
        self.redelivery = Redelivery(self.jobs, lambda job, index: self._celery().send_chunk(job, index))

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
        seen: dict[str, Job] = {}
        sync_catalog(catalog, self.jobs, seen)
        self._recover_lost(catalog, seen)
        self.redelivery.check([job for job in seen.values() if job.status == "running"])
        if self.on_indexed is not None:
            for video_id in indexed_videos(seen):
                self.on_indexed(video_id)
        return n

    def _recover_lost(self, catalog: Catalog, seen: dict[str, Job]) -> None:
        """Follow each video's active job; one whose record is gone while the catalog still waits
        for it is lost: queue the video again, or mark it failed saying why."""
        for job in seen.values():
            watched = self._watch.get(job.video_id)
            if job.status in ACTIVE:
                self._watch[job.video_id] = job
            elif watched is not None and watched.id == job.id:
                del self._watch[job.video_id]
        for video_id, job in list(self._watch.items()):
            if job.id in seen or self.jobs.r.exists(self.jobs.key("job", job.id)):
                continue  # still there (a queued job is unsynced only once it starts)
            rec = catalog.get(video_id)
            if rec is None or rec.status not in ("queued", "indexing"):
                del self._watch[video_id]  # deleted, or finished otherwise meanwhile
                continue
            self._requeue(catalog, rec, job)  # Redis away again: the entry stays, tried next round

    def _fail_lost(self, catalog: Catalog, rec: VideoRecord, lost: Job, error: str) -> None:
        """Mark the video failed and remove what the lost job had written of it (embedded store)."""
        if self.store is not None:
            self.store.delete_video(rec.id)
            self.store.flush()
            shutil.rmtree(self.settings.thumbnails_dir / rec.id, ignore_errors=True)
        catalog.set_status(rec.id, "failed", error=error)
        log.warning("job %s of %s was lost from Redis: marked failed", lost.id, rec.path)
        del self._watch[rec.id]

    def _requeue(self, catalog: Catalog, rec: VideoRecord, lost: Job) -> None:
        try:
            st = os.stat(rec.path)
        except OSError as exc:
            return self._fail_lost(catalog, rec, lost, f"{rec.path}: {LOST}, and the file cannot be read to "
                                                       f"index it again: {exc.strerror or exc}")
        if not self.requeue_lost:
            return self._fail_lost(catalog, rec, lost, f"{rec.path}: {LOST}: it was not indexed; ingest it again")
        job = self.jobs.create(rec.path, queue=lost.queue, force=lost.force, camera=lost.camera,
                               wall_start=lost.wall_start, wall_source=lost.wall_source, video_id=rec.id,
                               size=st.st_size, mtime=st.st_mtime, note=f"queued again: job {lost.id} was lost")
        try:
            self._celery().send_prepare(job)
        except TRANSIENT_REDIS:
            try:
                self.jobs.forget(job.id)
            except TRANSIENT_REDIS:
                pass
            raise
        self._watch[rec.id] = job
        self.requeued.append((lost.id, job.id))
        log.warning("job %s of %s was lost from Redis (restarted without its data?): queued again as job %s",
                    lost.id, rec.path, job.id)

    def _celery(self):
        """The Celery client that queues tasks again (made on first use)."""
        if self._client is None:
            from .client import Client

            self._client = Client(self.settings, jobs=self.jobs)
        return self._client

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
