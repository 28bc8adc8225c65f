"""Background ingestion inside the server process: one thread, one queue, jobs kept in memory.

This is the embedded default (no broker configured): ``POST /api/v1/videos`` queues a
:class:`Job` and answers at once; a single daemon thread takes the jobs in order and indexes each
file with the ingest runner, so no request ever decodes or embeds a video. Only one video is
indexed at a time, which is what one machine's cores can do anyway.

The runner gets the catalog and the vector store through :meth:`web.access.SerialLibrary.guarded`
(each call under the library lock), so searches and page loads go on while a video is indexed.

``Job.to_dict()`` is the public shape of ``GET /api/v1/jobs/<id>``::

    {"id", "video_id", "path", "status", "progress", "error", "created_at", "finished_at", "result"}

``status`` is ``queued``, ``running``, ``done`` or ``failed``; ``progress`` runs from 0 to 1 (seconds
of video indexed / duration); ``result`` is the CLI's ingest result (``vidsearch ingest --json``)
once the job has finished. ``video_id`` is known at once for uploads (hashed while the body is
written) and for files the catalog already knows; otherwise it is filled in when the job starts.

Jobs live in memory: a restart forgets finished jobs, and :meth:`JobQueue.resume` queues again the
videos the catalog still marks ``queued`` or ``indexing`` (a crash mid-index).

Deleting a video (:meth:`JobQueue.cancel_video`) cancels every queued job of it, or is refused while
one runs; a job queued before the delete whose content turns out to be that video (a server path,
hashed when it starts) is cancelled too, so nothing queued before a delete brings the video back.
An upload that will not be indexed (its job cancelled or failed, or its footage already indexed
from another file) is removed with its folder.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidsearch.catalog import VideoRecord, content_id

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed")
KEEP_FINISHED = 1000  # finished jobs remembered (the oldest are forgotten first)


class VideoBusy(Exception):
    """A job of the video is running: it cannot be deleted now."""


class _Stopping(BaseException):
    """Raised inside the runner's progress callback when the server stops: a BaseException, so the
    runner does not record the video as failed; the catalog keeps ``indexing`` and the next start
    queues it again."""


@dataclass
class Job:
    id: str
    path: str
    video_id: str | None = None
    status: str = "queued"
    progress: float = 0.0
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    result: dict | None = None
    upload: bool = field(default=False, repr=False)  # the file is an upload the server owns
    force: bool = field(default=False, repr=False)  # index again even when already indexed
    seq: int = field(default=0, repr=False)  # submission order (deletes cancel what came before them)

    def to_dict(self) -> dict:
        d = asdict(self)
        for private in ("upload", "force", "seq"):
            d.pop(private)
        d["progress"] = round(d["progress"], 4)
        return d

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")


class JobQueue:
    """``submit`` files; one thread indexes them in order. Thread-safe."""

    def __init__(self, access, *, remove_upload=None, keep_finished: int = KEEP_FINISHED, on_indexed=None) -> None:
        self._access = access  # web.access.SerialLibrary
        self._on_indexed = on_indexed  # callable(video_id) after a job indexed a video (its playable copy)
        self._remove_upload = remove_upload  # callable(path): deletes an upload the server owns
        self._keep = keep_finished
        self._jobs: dict[str, Job] = {}  # insertion order = creation order
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._runner = None
        self._seq = 0  # the last job's seq
        self._deleted: dict[str, int] = {}  # video id -> the last seq submitted before it was deleted
        self._deleting = threading.RLock()  # a delete and a submission never interleave

    # -- submitting ----------------------------------------------------------------------------
    def submit(self, path: str | Path, *, video_id: str | None = None, upload: bool = False,
               force: bool = False) -> Job:
        """Queue one file. With a known ``video_id`` the catalog shows the video as ``queued`` at once
        (unless it is already indexed, in which case the job will find it and skip it)."""
        path = os.path.abspath(path)
        if video_id is None:
            video_id = self._known_id(path)
        job = Job(id=uuid.uuid4().hex, path=path, video_id=video_id, upload=upload, force=force)
        with self._deleting:
            if video_id is not None:
                self._mark_queued(job)
            with self._lock:
                self._seq += 1
                job.seq = self._seq
                self._jobs[job.id] = job
                self._forget_old()
        self._ensure_thread()
        self._queue.put(job.id)
        return job

    def _known_id(self, path: str) -> str | None:
        """The id of an unchanged file the catalog has seen (cheap: no hashing in a request)."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        with self._access.use() as lib:
            rec = lib.catalog.find_unchanged(path, st.st_size, st.st_mtime)
        return rec.id if rec is not None else None

    def _mark_queued(self, job: Job) -> None:
        try:
            st = os.stat(job.path)
        except OSError:
            return
        with self._access.use() as lib:
            rec = lib.catalog.get(job.video_id)
            if rec is not None and rec.status == "indexed":
                return
            lib.catalog.upsert(VideoRecord(id=job.video_id, path=job.path, status="queued", size=st.st_size,
                                           mtime=st.st_mtime, added_at=rec.added_at if rec else 0.0))

    def resume(self) -> list[Job]:
        """Queue again what the catalog marks ``queued`` or ``indexing`` (a restart, a crash)."""
        with self._access.use() as lib:
            pending = [r for r in lib.videos() if r.status in ("queued", "indexing")]
        uploads = self._access.settings.uploads_dir.resolve()
        jobs = []
        for rec in pending:
            if os.path.isfile(rec.path):
                jobs.append(self.submit(rec.path, video_id=rec.id,
                                        upload=Path(rec.path).resolve().is_relative_to(uploads)))
        if jobs:
            log.info("resuming %d interrupted ingest job(s)", len(jobs))
        return jobs

    # -- reading -------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return Job(**asdict(job)) if job is not None else None

    def list(self) -> list[Job]:
        """Every remembered job, newest first (copies)."""
        with self._lock:
            return [Job(**asdict(j)) for j in reversed(self._jobs.values())]

    def active_for(self, video_id: str) -> Job | None:
        with self._lock:
            for job in self._jobs.values():
                if job.video_id == video_id and job.active:
                    return Job(**asdict(job))
        return None

    def cancel(self, job_id: str, reason: str) -> bool:
        """Cancel a job that has not started; False when it is running or finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status != "queued":
                return False
            job.status, job.error, job.finished_at = "failed", reason, time.time()
            return True

    def cancel_video(self, video_id: str, reason: str, then=None):
        """Cancel every queued job of ``video_id`` (and, when they start, the jobs queued before now
        whose content turns out to be it), remove their uploads, then call ``then()`` (the delete
        itself) before any other job is submitted; returns what ``then`` returned. Raises
        :class:`VideoBusy` (nothing cancelled) while a job of the video runs."""
        with self._deleting:
            with self._lock:
                if any(j.video_id == video_id and j.status == "running" for j in self._jobs.values()):
                    raise VideoBusy(video_id)
                cancelled = [j for j in self._jobs.values() if j.video_id == video_id and j.status == "queued"]
                now = time.time()
                for job in cancelled:
                    job.status, job.error, job.finished_at = "failed", reason, now
                self._deleted[video_id] = self._seq
                oldest = min((j.seq for j in self._jobs.values() if j.active), default=self._seq + 1)
                for vid in [v for v, seq in self._deleted.items() if seq < oldest]:
                    del self._deleted[vid]  # no job left that was queued before that delete
            for job in cancelled:
                self._discard_upload(job)
            return then() if then is not None else None

    def _discard_upload(self, job: Job, keep_if_indexed: bool = False) -> None:
        """Remove the upload of a job that did not index it (``keep_if_indexed``: unless the catalog
        holds the video, not failed, from this very file)."""
        if not job.upload or self._remove_upload is None:
            return
        if keep_if_indexed and job.video_id is not None:
            with self._access.use() as lib:
                rec = lib.catalog.get(job.video_id)
            if rec is not None and rec.status != "failed" and os.path.abspath(rec.path) == job.path:
                return
        self._remove_upload(job.path)

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if not j.active]
        for job_id in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job_id]

    # -- the worker thread ---------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._work, name="vidsearch-ingest", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current chunk of the running job (it stays ``indexing`` in the catalog)."""
        self._stopping.set()
        self._queue.put(None)
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _runner_(self):
        if self._runner is None:
            from vidsearch.ingest.runner import IngestRunner

            a = self._access
            def check(video_id: str) -> None:  # the watchlists check the new video, under the library's lock
                with a.use() as lib:
                    if getattr(lib, "watchlists", None) is not None:
                        lib.watchlists.on_indexed(video_id)

            self._runner = IngestRunner(a.settings, a.guarded("catalog"), a.guarded("store"), a.encoders,
                                        on_indexed=check)
        return self._runner

    def _work(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                break
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.status != "queued":
                    continue  # cancelled
                job.status = "running"
            try:
                self._run(job)
            except _Stopping:
                with self._lock:
                    job.status, job.error = "queued", None  # picked up again by the next start
                break
            except Exception as exc:  # a bug: this job fails, the queue goes on
                log.exception("ingest job %s (%s) failed", job.id, job.path)
                with self._lock:
                    job.status, job.finished_at = "failed", time.time()
                    job.error = f"{job.path}: internal error: {type(exc).__name__}"
                self._discard_upload(job, keep_if_indexed=True)

    def _progress(self, job: Job):
        def update(done: float, duration: float) -> None:
            if self._stopping.is_set():
                raise _Stopping
            if duration > 0:
                with self._lock:
                    job.progress = min(max(done / duration, 0.0), 1.0)

        return update

    def _run(self, job: Job) -> None:
        if job.video_id is None:  # hashing is I/O only: outside every lock
            try:
                vid = content_id(job.path)
            except OSError:
                vid = None  # the runner reports why the file cannot be read
            with self._lock:
                job.video_id = vid
        with self._lock:
            if job.video_id is not None and self._deleted.get(job.video_id, -1) >= job.seq:
                job.status, job.finished_at = "failed", time.time()  # queued before its video was deleted
                job.error = "cancelled: the video was deleted"
        if job.status == "failed":
            self._discard_upload(job)
            return
        result = self._runner_().ingest_file(job.path, force=job.force, progress=self._progress(job))
        with self._lock:
            job.result = result.to_dict()
            job.video_id = result.video_id or job.video_id
            job.error = result.error
            job.status = "failed" if result.status == "failed" else "done"
            if job.status == "done":
                job.progress = 1.0
            job.finished_at = time.time()
        if result.status in ("skipped", "failed"):
            # failed, or the same footage already indexed from another file: this upload is not kept
            self._discard_upload(job, keep_if_indexed=True)
        elif self._on_indexed is not None and result.video_id:
            try:
                self._on_indexed(result.video_id)
            except Exception:  # only a head start: the first play asks again
                log.exception("after indexing %s", result.video_id)
