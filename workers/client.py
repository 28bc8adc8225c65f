"""The submitting side: ``vidsearch ingest`` with a broker queues jobs, ``--wait`` follows them.

A job is created in Redis first, then its ``prepare`` task is sent; a client that dies between the
two leaves a ``queued`` job that ``vidsearch jobs retry ID`` sends again. Files the local catalog
already holds unchanged (same path, size and mtime, indexed) are skipped here without hashing them;
the worker's ``prepare`` skips content that Redis knows as indexed (``P:indexed``).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from vidsearch.catalog import Catalog
from vidsearch.ingest.discover import discover
from vidsearch.media.errors import MediaError

from .jobs import ACTIVE, TERMINAL, TRANSIENT_REDIS, Job, JobStore

log = logging.getLogger(__name__)


@dataclass
class Submitted:
    path: str
    status: str  # queued | skipped | failed
    job_id: str | None = None
    video_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Client:
    def __init__(self, settings, *, jobs: JobStore | None = None, app=None):
        from .app import make_app

        self.settings = settings
        self.jobs = jobs or JobStore.from_settings(settings, patient=False)
        self.app = app or make_app(settings)

    def send_prepare(self, job: Job) -> None:
        self.app.send_task("vidsearch.prepare", args=[job.id, job.attempt], queue=job.queue)

    def send_chunk(self, job: Job, index: int) -> None:
        self.app.send_task("vidsearch.chunk", args=[job.id, job.attempt, index], queue=job.queue)

    def submit(self, paths: Iterable[str | Path], *, force: bool = False, camera: str | None = None,
               wall_start: float | None = None, wall_source: str | None = None,
               queue: str | None = None) -> list[Submitted]:
        catalog = Catalog(self.settings.catalog_path) if self.settings.data_dir.is_dir() else None
        out: list[Submitted] = []
        try:
            for path in discover(paths):
                out.append(self._submit_one(str(path), catalog, force=force, camera=camera, wall_start=wall_start,
                                            wall_source=wall_source, queue=queue or self.settings.queue))
        finally:
            if catalog is not None:
                catalog.close()
        return out

    def _submit_one(self, path: str, catalog, *, force, camera, wall_start, wall_source, queue) -> Submitted:
        try:
            st = os.stat(path)
        except OSError as exc:
            return Submitted(path, "failed", error=str(MediaError(path, exc.strerror or str(exc))))
        if not os.path.isfile(path):
            return Submitted(path, "failed", error=str(MediaError(path, "not a regular file")))
        if catalog is not None and not force:
            seen = catalog.find_unchanged(path, st.st_size, st.st_mtime)
            if seen is not None and seen.status == "indexed":
                return Submitted(path, "skipped", video_id=seen.id)
        job = self.jobs.create(path, queue=queue, force=force, camera=camera, wall_start=wall_start,
                               wall_source=wall_source, size=st.st_size, mtime=st.st_mtime)
        self.send_prepare(job)
        return Submitted(path, "queued", job_id=job.id)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when there is none such (unknown or finished)."""
        job = self.jobs.find(job_id)
        if job is None or not self.jobs.cancel(job.id):
            return False
        self.app.send_task("vidsearch.discard", args=[job.id, job.attempt], queue=job.queue)
        return True

    def retry(self, job_id: str) -> Job | None:
        job = self.jobs.find(job_id)
        if job is None:
            return None
        again = self.jobs.retry(job.id)
        if again is not None:
            self.send_prepare(again)
        return again

    # ---------------------------------------------------------------------------------------------
    def wait(self, job_ids: list[str], *, on_update: Callable[[Job], None] | None = None,
             step: Callable[[], object] | None = None, interval: float = 0.5,
             unreachable_limit: float = 300.0, on_note: Callable[[str], None] | None = None) -> dict[str, Job]:
        """Follow ``job_ids`` until each is finished; returns the last state of each. ``step`` runs
        every round (the relay owner's work when this process owns the store). A job whose record
        disappears (Redis lost its data) comes back as ``failed`` with that reason; Redis unreachable
        for ``unreachable_limit`` seconds raises ConnectionError."""
        last: dict[str, tuple] = {}
        final: dict[str, Job] = {}
        down_since: float | None = None
        warned_workers = 0.0
        while len(final) < len(job_ids):
            try:
                if step is not None:
                    step()
                for job_id in job_ids:
                    if job_id in final:
                        continue
                    job = self.jobs.get(job_id)
                    if job is None:
                        job = Job(id=job_id, path=last.get(job_id, ("", "?"))[1], status="failed",
                                  error="the job's state is gone from Redis (restarted without its data?): "
                                        "its video was not indexed; ingest it again")
                    key = (job.status, job.path, job.done, job.chunks)
                    if last.get(job_id) != key:
                        last[job_id] = key
                        if on_update is not None:
                            on_update(job)
                    if job.status in TERMINAL:
                        final[job_id] = job
                if on_note is not None and time.monotonic() - warned_workers > 60 and len(final) < len(job_ids):
                    if not self.jobs.workers():
                        on_note("no worker is running: start one with `vidsearch worker`")
                        warned_workers = time.monotonic()
                down_since = None
            except TRANSIENT_REDIS as exc:
                now = time.monotonic()
                down_since = down_since or now
                if now - down_since > unreachable_limit:
                    raise ConnectionError(f"Redis at {self.settings.broker_url} unreachable for "
                                          f"{unreachable_limit:.0f} s: {exc}") from None
                if on_note is not None:
                    on_note(f"Redis unreachable ({exc}); waiting")
                time.sleep(1.0)
                continue
            if len(final) < len(job_ids) and step is None:
                time.sleep(interval)
        return final


def active(jobs: Iterable[Job]) -> list[Job]:
    return [j for j in jobs if j.status in ACTIVE]
