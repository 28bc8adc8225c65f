"""Redis restarted without persistence mid-job (issue 13): the job's state is gone, the catalog still
says ``indexing``. The owner loop (here in this test process, as in ``vidsearch serve``) must notice
and queue the video again, so that it ends indexed, every point once, within a bounded time."""
from __future__ import annotations

import time
import uuid

from tests.conftest import make_video
from tests.workers.conftest import PrivateRedis, Workers, wait_for, worker_env
from tests.workers.points import assert_exactly_once
from vidsearch.catalog import Catalog
from vidsearch.config import Settings
from vidsearch.library import Library
from workers.client import Client
from workers.jobs import JobStore
from workers.owner import OwnerLoop, library_jobs

ENV = dict(SAMPLE_FPS=4, CHUNK_SECONDS=5, DECODE_CHUNK=6, VISIBILITY_TIMEOUT=12, TASK_TIME_LIMIT=10)


def test_a_job_lost_in_a_redis_restart_without_persistence_is_queued_again(tmp_path):
    redis_server = PrivateRedis(tmp_path / "redis", persist=False).start()
    env = worker_env(tmp_path / "data", redis_server.url, f"vstest-{uuid.uuid4().hex[:10]}", **ENV)
    settings = Settings.from_env(env)
    jobs = JobStore.from_settings(settings)
    workers = Workers(env, 1, tmp_path / "logs")
    video = make_video(tmp_path / "lost.mp4", duration=19, source="testsrc2")
    try:
        workers.wait_ready(jobs, 1)
        with Library(settings, jobs=library_jobs(settings)) as lib:
            loop = OwnerLoop(settings, lib.store).start()
            try:
                (sub,) = Client(settings).submit([video])
                wait_for(lambda: jobs.get(sub.job_id).done >= 1, 90, "a chunk written")
                vid = jobs.get(sub.job_id).video_id
                wait_for(lambda: lib.catalog.get(vid) is not None and lib.catalog.get(vid).status == "indexing",
                         10, "the catalog to say indexing")
                redis_server.stop()  # no append-only file, no snapshot: Redis comes back empty
                redis_server.start()
                assert jobs.get(sub.job_id) is None and not jobs.unsynced()
                t0 = time.monotonic()
                rec = wait_for(lambda: (r := lib.catalog.get(vid)) is not None and r.status in ("indexed", "failed") and r,
                               120, "the video to be indexed again", every=0.2)
                print(f"indexed again {time.monotonic() - t0:.1f} s after the restart")  # pytest -s
                assert rec.status == "indexed", (rec, workers.log_tail())
                (lost, again), = loop.requeued
                assert lost == sub.job_id and jobs.get(again).status == "done"
                frames, segments = assert_exactly_once(lib.store, vid, video, settings)
                assert (rec.frames, rec.segments) == (frames, segments)
            finally:
                loop.stop()
        assert loop.errors == 0 or "Redis" in (loop.last_error or "") or "onnect" in (loop.last_error or ""), loop.last_error
    finally:
        workers.stop()
        redis_server.stop()


def test_a_lost_job_whose_file_is_gone_fails_saying_why(tmp_path, redis_url, prefix):
    """No worker needed: the job's record vanishes (as in a Redis restart) and its file is gone."""
    env = worker_env(tmp_path / "data", redis_url, prefix)
    settings = Settings.from_env(env)
    jobs = JobStore.from_settings(settings)
    settings.data_dir.mkdir(parents=True)
    catalog = Catalog(settings.catalog_path)
    try:
        job = jobs.create(str(tmp_path / "gone.mp4"), video_id="00000000000000ab")
        jobs.start(job.id, 1)
        loop = OwnerLoop(settings)  # a Qdrant server: only the catalog is synced
        loop.step(catalog, block_ms=10)
        assert catalog.get("00000000000000ab").status == "indexing"
        jobs.forget(job.id)
        loop.step(catalog, block_ms=10)
        rec = catalog.get("00000000000000ab")
        assert rec.status == "failed" and "gone from Redis" in rec.error and "gone.mp4" in rec.error, rec
        assert loop.requeued == []
    finally:
        catalog.close()
