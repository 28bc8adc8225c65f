"""Job state in a real Redis: transitions guarded by attempt, idempotent chunk counts, claims."""
import time

import pytest

from workers.jobs import JobStore, connect


@pytest.fixture
def jobs(redis_url, prefix):
    return JobStore(connect(redis_url), prefix)


def test_a_job_runs_through_its_states(jobs):
    job = jobs.create("/v/a.mp4", queue="cpu", camera="gate-1", wall_start=1700000000.5)
    assert jobs.get(job.id).status == "queued" and jobs.find(job.id[:6]).id == job.id
    assert jobs.start(job.id, 1)
    assert not jobs.start(job.id, 1)  # only from queued
    assert jobs.set_if_current(job.id, 1, video_id="v1", chunks=3, duration=30.0, spans=[[0, 10], [10, 20], [20, None]])
    assert jobs.chunk_done(job.id, 1, 0, {"samples": 10, "keyframes": 4, "segments": 1, "seconds": 10.0}) == (1, 3)
    # a chunk done again (a redelivered task) is counted once
    assert jobs.chunk_done(job.id, 1, 0, {"samples": 10, "keyframes": 4, "segments": 1, "seconds": 10.0}) == (1, 3)
    got = jobs.get(job.id)
    assert (got.done, got.chunks, round(got.progress, 3), got.camera, got.wall_start) == (1, 3, 0.333, "gate-1", 1700000000.5)
    assert got.spans == [[0, 10], [10, 20], [20, None]]
    assert got.eta is not None and got.eta >= 0
    assert job.id in jobs.unsynced()
    assert jobs.finish(job.id, 1, "done", keyframes=12)
    assert not jobs.finish(job.id, 1, "failed", error="late")  # terminal stays terminal
    assert jobs.get(job.id).status == "done" and jobs.is_indexed("v1")


def test_a_late_task_of_an_earlier_attempt_changes_nothing(jobs):
    job = jobs.create("/v/b.mp4")
    jobs.start(job.id, 1)
    jobs.set_if_current(job.id, 1, video_id="v2", chunks=2)
    assert jobs.cancel(job.id)
    assert jobs.get(job.id).status == "cancelled" and jobs.get(job.id).error == "cancelled by the user"
    assert not jobs.cancel(job.id)
    again = jobs.retry(job.id)
    assert (again.status, again.attempt, again.error, again.done) == ("queued", 2, None, 0)
    assert not jobs.set_if_current(job.id, 1, chunks=99)  # the old attempt's task
    assert not jobs.finish(job.id, 1, "done")
    assert not jobs.is_current(job.id, 1)
    assert jobs.start(job.id, 2) and jobs.is_current(job.id, 2)
    assert jobs.retry(job.id) is None  # running jobs are not retried


def test_one_active_job_per_video(jobs):
    a, b = jobs.create("/v/c.mp4"), jobs.create("/v/c-copy.mp4")
    jobs.start(a.id, 1)
    assert jobs.claim_video("v3", a.id) is None
    assert jobs.claim_video("v3", a.id) is None  # its own claim again
    assert jobs.claim_video("v3", b.id) == a.id
    jobs.finish(a.id, 1, "failed", error="x")
    assert jobs.claim_video("v3", b.id) is None  # a finished job's claim is gone


def test_heartbeats_expire(jobs):
    jobs.heartbeat("workers", ttl=0.3, queues=["cpu"])
    assert len(jobs.workers()) == 1
    time.sleep(0.5)
    assert jobs.workers() == []


def test_broker_settings_are_validated():
    from vidsearch.config import ConfigError, Settings

    base = {"VIDSEARCH_DATA_DIR": "/tmp/x"}
    s = Settings.from_env({**base, "VIDSEARCH_BROKER_URL": "redis://h:6379/2", "VIDSEARCH_CHUNK_SECONDS": "60"})
    assert (s.broker_url, s.chunk_seconds, s.queue, s.redis_prefix) == ("redis://h:6379/2", 60.0, "cpu", "vidsearch")
    assert Settings.from_env(base).broker_url is None  # no broker: ingestion in-process
    for bad in ({"VIDSEARCH_BROKER_URL": "amqp://h"},
                {"VIDSEARCH_TASK_TIME_LIMIT": "3600", "VIDSEARCH_VISIBILITY_TIMEOUT": "3600"},
                {"VIDSEARCH_CHUNK_SECONDS": "0.5"},
                {"VIDSEARCH_QUEUE": "no queue"}):
        with pytest.raises(ConfigError):
            Settings.from_env({**base, **bad})
