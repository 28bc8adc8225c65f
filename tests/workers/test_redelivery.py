"""Chunks whose message the broker lost are sent again by the owner loop (real Redis, real Celery
publishing and kombu's own consumer; no worker runs here, so nothing takes the messages)."""
from __future__ import annotations

import time

import pytest

from tests.workers.conftest import worker_env
from vidsearch.catalog import Catalog
from vidsearch.config import Settings
from workers.client import Client
from workers.jobs import JobStore
from workers.owner import OwnerLoop
from workers.redelivery import pending_tasks


@pytest.fixture
def broker(tmp_path, redis_url, prefix):
    settings = Settings.from_env(worker_env(tmp_path / "data", redis_url, prefix))
    settings.data_dir.mkdir(parents=True)
    client = Client(settings)
    yield settings, client, JobStore.from_settings(settings)
    client.app.close()


@pytest.fixture
def take(broker):
    """A worker's way of taking a message: kombu moves it into the unacknowledged hash, where it
    stays while this connection is open (closing it puts the message back in its queue)."""
    conn = broker[1].app.connection_for_write()

    def take(queue: str):
        message = conn.default_channel.basic_get(queue, no_ack=False)
        assert message is not None
        return message

    yield take
    conn.close()


def test_pending_tasks_are_read_from_the_queues_their_priorities_and_the_unacknowledged(broker, take):
    settings, client, jobs = broker
    app, queue, celery = client.app, settings.queue, f"{settings.redis_prefix}:celery:"
    app.send_task("vidsearch.chunk", args=["j", 1, 2], queue=queue)
    take(queue)  # chunk 2: in a worker's hands
    app.send_task("vidsearch.chunk", args=["j", 1, 0], queue=queue)
    app.send_task("vidsearch.chunk", args=["j", 1, 1], queue=queue, priority=5)
    app.send_task("vidsearch.prepare", args=["k", 2], queue="gpu")
    jobs.r.lpush(f"{celery}{queue}", b"not a kombu message")
    assert jobs.r.exists(f"{celery}{queue}\x06\x163") and jobs.r.hlen(f"{celery}unacked") == 1
    assert pending_tasks(jobs.r, celery, [queue]) == {("vidsearch.chunk", ("j", 1, i)) for i in range(3)}
    assert ("vidsearch.prepare", ("k", 2)) in pending_tasks(jobs.r, celery, [queue, "gpu"])


def test_the_owner_sends_again_only_the_chunk_that_is_nowhere(broker, take):
    settings, client, jobs = broker
    queue = settings.queue
    job = jobs.create("/videos/a.mp4", queue=queue, video_id="00000000000000aa")
    assert jobs.start(job.id, 1)
    assert jobs.set_if_current(job.id, 1, chunks=5, spans=[[5.0 * i, 5.0 * i + 5] for i in range(5)], duration=25.0)
    jobs.chunk_done(job.id, 1, 0, {"samples": 5})  # 0: written
    client.app.send_task("vidsearch.chunk", args=[job.id, 1, 2], queue=queue)
    take(queue)  # 2: taken by a worker, not acknowledged
    client.app.send_task("vidsearch.chunk", args=[job.id, 1, 1], queue=queue)  # 1: waiting in the queue
    jobs.chunk_started(job.id, 1, 3)  # 3: running (its message is the worker's)
    # 4: nowhere, as when Redis stopped between a worker's BRPOP and its unacknowledged entry

    catalog = Catalog(settings.catalog_path)
    loop = OwnerLoop(settings)
    r = loop.redelivery
    r.quiet_s, r.confirm_s, r.every_s = 0.2, 0.3, 0.0
    try:
        loop.step(catalog, block_ms=1)  # the job's progress, first seen
        assert r.resent == []
        time.sleep(0.25)
        loop.step(catalog, block_ms=1)  # quiet long enough: chunk 4 missing, first seen
        assert r.resent == []
        time.sleep(0.35)
        loop.step(catalog, block_ms=1)  # still missing: sent again
        assert r.resent == [(job.id, 1, 4)]
        celery = f"{settings.redis_prefix}:celery:"
        assert pending_tasks(jobs.r, celery, [queue]) == {("vidsearch.chunk", (job.id, 1, i)) for i in (1, 2, 4)}
        time.sleep(0.35)
        loop.step(catalog, block_ms=1)  # queued now, and not sent twice
        assert r.resent == [(job.id, 1, 4)] and jobs.r.llen(f"{celery}{queue}") == 2
    finally:
        catalog.close()


def test_a_job_that_moves_or_waits_for_its_prepare_is_left_alone(broker):
    settings, client, jobs = broker
    queue = settings.queue
    moving = jobs.create("/videos/m.mp4", queue=queue, video_id="00000000000000bb")
    preparing = jobs.create("/videos/p.mp4", queue=queue, video_id="00000000000000cc")
    for job in (moving, preparing):
        assert jobs.start(job.id, 1)
        assert jobs.set_if_current(job.id, 1, chunks=2, spans=[[0.0, 5.0], [5.0, None]], duration=9.0)
    client.app.send_task("vidsearch.prepare", args=[preparing.id, 1], queue=queue)  # redelivered: it queues them
    catalog = Catalog(settings.catalog_path)
    loop = OwnerLoop(settings)
    r = loop.redelivery
    r.quiet_s, r.confirm_s, r.every_s = 0.3, 0.0, 0.0
    try:
        for batches in range(1, 6):
            jobs.chunk_progress(moving.id, 1, 0, batches, time.time())  # chunk 0 moves on
            loop.step(catalog, block_ms=1)
            time.sleep(0.15)
        assert r.resent == []
    finally:
        catalog.close()
