"""Two real worker processes on a real Redis, the embedded store owned by one process.

The owner is ``vidsearch ingest --wait`` (a process of its own) or, where the test needs to act
while jobs run, this test process (a Library and an OwnerLoop thread). Results reach it through
the Redis relay. Checks count the points and compare their ids with the spans' frames.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace

import psutil
import pytest

from tests.conftest import make_scenes, make_video
from tests.workers.conftest import REPO, PrivateRedis, Workers, vidsearch, wait_for, worker_env
from tests.workers.points import assert_exactly_once
from vidsearch.config import Settings
from vidsearch.library import Library
from workers.client import Client
from workers.jobs import JobStore
from workers.owner import OwnerLoop, library_jobs

# 4 samples/s and 5-s chunks: 20 frames per chunk in batches of 6, so a chunk is a few batches long.
# A short visibility timeout, so that a task of a worker killed outright comes back within seconds.
ENV = dict(SAMPLE_FPS=4, CHUNK_SECONDS=5, DECODE_CHUNK=6, VISIBILITY_TIMEOUT=12, TASK_TIME_LIMIT=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two workers on a Redis of this module's own (the restart test stops and starts it)."""
    tmp = tmp_path_factory.mktemp("cluster")
    redis_server = PrivateRedis(tmp / "redis").start()
    prefix = f"vstest-{uuid.uuid4().hex[:10]}"
    env = worker_env(tmp / "data", redis_server.url, prefix, **ENV)
    settings = Settings.from_env(env)
    jobs = JobStore.from_settings(settings)
    workers = Workers(env, 2, tmp / "logs")
    try:
        workers.wait_ready(jobs, 2)
        yield SimpleNamespace(env=env, settings=settings, jobs=jobs, workers=workers, tmp=tmp, redis=redis_server)
    finally:
        workers.stop()
        redis_server.stop()


def job_of(jobs: JobStore, path) -> str:
    for _ in range(200):
        for j in jobs.list():
            if j.path == str(path):
                return j.id
        time.sleep(0.05)
    raise AssertionError(f"no job for {path}")


def test_several_videos_through_two_workers(cluster):
    folder = cluster.tmp / "several"
    folder.mkdir()
    videos = [make_scenes(folder / "a.mp4", ["testsrc2", "smptebars", "mandelbrot"], seconds=4),
              make_video(folder / "b.mp4", duration=9, source="testsrc2"),
              make_scenes(folder / "c.mp4", ["rgbtestsrc", "cellauto"], seconds=3)]
    p = vidsearch(cluster.env, "ingest", str(folder), "--wait", "--json")
    results = json.loads(p.stdout)["results"]
    assert [r["status"] for r in results] == ["queued"] * 3
    assert all(r["job"]["status"] == "done" for r in results), results
    workers_used = set()
    with Library(cluster.settings, jobs=library_jobs(cluster.settings)) as lib:
        for video, r in zip(videos, results):
            job = cluster.jobs.get(r["job_id"])
            rec = lib.video(job.video_id)
            assert rec.status == "indexed" and rec.path == str(video), rec
            frames, segments = assert_exactly_once(lib.store, job.video_id, video, cluster.settings)
            assert (rec.frames, rec.segments) == (frames, segments) == (job.keyframes, job.segments)
            assert job.chunks == len(cluster.jobs.chunk_stats(job.id, 1)) >= 2
            workers_used |= {s["worker"] for s in cluster.jobs.chunk_stats(job.id, 1).values()}
            thumbs = sorted((cluster.settings.thumbnails_dir / job.video_id).glob("*.jpg"))
            assert len(thumbs) == segments  # each segment's thumbnail came through the relay
    assert len(workers_used) == 2, workers_used  # the chunks were shared by both workers
    again = vidsearch(cluster.env, "ingest", str(folder), "--wait")
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["skipped"] * 3  # not queued again


def _child_of_workers(cluster, pid: int) -> bool:
    try:
        return psutil.Process(pid).ppid() in {p.pid for p in cluster.workers.procs}
    except psutil.NoSuchProcess:
        return False


def start_owner(cluster, video) -> subprocess.Popen:
    """``vidsearch ingest VIDEO --wait``: the process that owns the store while the job runs."""
    return subprocess.Popen([sys.executable, "-m", "vidsearch.cli", "ingest", str(video), "--wait"], env=cluster.env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def busy_chunk(cluster, job_id):
    """(index, pid) of a chunk that has sent part of its results and is still running, else None."""
    job = cluster.jobs.get(job_id)
    done = cluster.jobs.done_chunks(job_id, 1) if job and job.chunks else set()
    for index, live in cluster.jobs.live_chunks(job_id, 1).items():
        if live["batches"] >= 1 and index not in done and _child_of_workers(cluster, live["pid"]):
            return index, live["pid"]
    return None


def finish(cluster, owner, job_id, video, *, killed_chunk=None):
    """Wait for the owner; the job must be done with every point exactly once."""
    try:
        out, _ = owner.communicate(timeout=150)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert owner.returncode == 0, out
    job = cluster.jobs.get(job_id)
    assert job.status == "done", job
    if killed_chunk is not None:
        runs = cluster.jobs.r.hgetall(cluster.jobs.key("job", job_id, 1, "runs"))
        assert int(runs[str(killed_chunk).encode()]) >= 2, runs  # the killed chunk was done again
    with Library(cluster.settings, jobs=library_jobs(cluster.settings)) as lib:
        frames, segments = assert_exactly_once(lib.store, job.video_id, video, cluster.settings)
        assert (frames, segments) == (job.keyframes, job.segments)
        assert lib.video(job.video_id).status == "indexed"
    return job


def test_kill_9_of_a_worker_mid_chunk_loses_and_doubles_nothing(cluster):
    video = make_video(cluster.tmp / "kill.mp4", duration=20, source="testsrc2")
    owner = start_owner(cluster, video)
    job_id = job_of(cluster.jobs, video)
    index, pid = wait_for(lambda: busy_chunk(cluster, job_id), 60, "a chunk in progress", every=0.01)
    os.kill(pid, signal.SIGKILL)  # the pool process running that chunk: its worker notices at once
    finish(cluster, owner, job_id, video, killed_chunk=index)
    cluster.workers.wait_ready(cluster.jobs, 2)  # the pool replaced its process


def test_progress_cancel_and_retry(cluster):
    video = make_video(cluster.tmp / "long.mp4", duration=30, source="testsrc2")
    client = Client(cluster.settings)
    with Library(cluster.settings, jobs=library_jobs(cluster.settings)) as lib:
        loop = OwnerLoop(cluster.settings, lib.store).start()
        try:
            (sub,) = client.submit([video])
            job_id = sub.job_id
            wait_for(lambda: cluster.jobs.get(job_id).done >= 1, 60, "a chunk written")
            mine = cluster.jobs.get(job_id).to_dict()
            assert mine["status"] == "running" and mine["chunks"] == 6 and 0 < mine["progress"] < 1
            assert mine["eta"] is not None
            assert client.cancel(job_id[:8])
            listing = json.loads(vidsearch(cluster.env, "jobs", "--json").stdout)
            assert next(j for j in listing["jobs"] if j["id"] == job_id)["status"] == "cancelled"
            assert listing["owner"]["pid"] == os.getpid() and len(listing["workers"]) >= 2  # a killed one expires in 10 s
            job = cluster.jobs.get(job_id)
            assert job.status == "cancelled"
            wait_for(lambda: lib.store.count_frames(job.video_id) == 0
                     and cluster.jobs.r.xlen(cluster.jobs.key("relay")) == 0
                     and not cluster.jobs.live_chunks(job_id, 1), 60, "the cancelled job's points removed")
            time.sleep(1.0)  # tasks still finishing their batch: nothing of theirs may land
            assert lib.store.count_frames(job.video_id) == 0
            wait_for(lambda: lib.catalog.get(job.video_id) is not None
                     and lib.catalog.get(job.video_id).status == "failed", 10, "the catalog to say failed")
            assert "cancelled" in lib.catalog.get(job.video_id).error
            assert vidsearch(cluster.env, "jobs", "cancel", job_id, check=False).returncode == 1

            assert "attempt 2" in vidsearch(cluster.env, "jobs", "retry", job_id).stdout
            wait_for(lambda: cluster.jobs.get(job_id).status == "done", 120, "the retried job", every=0.2)
            job = cluster.jobs.get(job_id)
            frames, segments = assert_exactly_once(lib.store, job.video_id, video, cluster.settings)
            assert (frames, segments) == (job.keyframes, job.segments) and job.attempt == 2
            wait_for(lambda: lib.catalog.get(job.video_id).status == "indexed", 10, "the catalog to say indexed")
        finally:
            loop.stop()
    assert loop.errors == 0, loop.last_error


def test_bad_files_fail_with_their_reason(cluster):
    folder = cluster.tmp / "bad"
    folder.mkdir()
    (folder / "text.mp4").write_text("not a video\n" * 100)
    good = make_video(folder / "good.mp4", duration=3, source="smptebars")
    p = vidsearch(cluster.env, "ingest", str(folder), str(folder / "missing.mp4"), "--wait", "--json", check=False)
    assert p.returncode == 1
    results = {r["path"].rsplit("/", 1)[1]: r for r in json.loads(p.stdout)["results"]}
    assert results["missing.mp4"]["status"] == "failed" and "missing.mp4" in results["missing.mp4"]["error"]
    bad = results["text.mp4"]["job"]
    assert bad["status"] == "failed" and str(folder / "text.mp4") in bad["error"] and "not a readable video" in bad["error"]
    assert results["good.mp4"]["job"]["status"] == "done"
    with Library(cluster.settings, jobs=library_jobs(cluster.settings)) as lib:
        assert lib.video(bad["video_id"]).status == "failed"
        assert lib.video(results["good.mp4"]["job"]["video_id"]).status == "indexed"
    assert good.exists()


def test_redis_restart_mid_job_recovers_or_fails_clearly(cluster):
    video = make_video(cluster.tmp / "restart.mp4", duration=19, source="testsrc2")
    owner = start_owner(cluster, video)
    job_id = job_of(cluster.jobs, video)
    wait_for(lambda: cluster.jobs.get(job_id).done >= 1, 60, "a chunk written")
    cluster.redis.stop()  # Redis goes away mid-job (its append-only file keeps what it had) ...
    time.sleep(2.0)
    cluster.redis.start()  # ... and comes back on the same port
    try:
        out, _ = owner.communicate(timeout=150)
    finally:
        if owner.poll() is None:
            owner.kill()
    job = cluster.jobs.get(job_id)
    print(f"after the Redis restart the job is {job.status}")  # shown with pytest -s
    with Library(cluster.settings, jobs=library_jobs(cluster.settings)) as lib:
        rec = lib.video(job.video_id)
        if job.status == "done":  # recovered: complete, nothing doubled
            assert owner.returncode == 0, out
            frames, segments = assert_exactly_once(lib.store, job.video_id, video, cluster.settings)
            assert (frames, segments) == (job.keyframes, job.segments) and rec.status == "indexed"
        else:  # or failed, saying why, and never indexed half
            assert job.status == "failed" and job.error, job
            assert owner.returncode == 1 and rec.status == "failed", (out, rec)
    cluster.workers.wait_ready(cluster.jobs, 2)


def test_chunk_messages_the_broker_lost_are_sent_again_by_the_owner(cluster):
    """The messages of the chunks still waiting vanish from the queue (as when Redis stops between
    a worker's BRPOP and its unacknowledged entry): no visibility timeout brings them back; the
    owner finds them in no queue and with no worker, sends them again, and the job completes."""
    video = make_video(cluster.tmp / "lostchunks.mp4", duration=17, source="testsrc2")  # content unlike the others
    owner = start_owner(cluster, video)
    job_id = job_of(cluster.jobs, video)
    r, queue = cluster.jobs.r, cluster.jobs.key("celery", cluster.settings.queue)

    def drop_waiting():
        job = cluster.jobs.get(job_id)
        assert job is None or job.status in ("queued", "running"), job  # e.g. skipped: content indexed before
        if job is None or not job.chunks:
            return None
        pipe = r.pipeline()  # MULTI/EXEC: what was waiting is what is dropped
        pipe.lrange(queue, 0, -1)
        pipe.delete(queue)
        return pipe.execute()[0] or None

    dropped = wait_for(drop_waiting, 60, "chunks waiting in the queue", every=0.01)
    lost = sorted(json.loads(base64.b64decode(json.loads(m)["body"]))[0][2] for m in dropped)
    job = finish(cluster, owner, job_id, video)
    assert job.chunks == 4 and lost, lost  # 17 s in 5-s spans
    runs = {int(k): int(v) for k, v in r.hgetall(cluster.jobs.key("job", job_id, 1, "runs")).items()}
    assert all(runs[i] == 1 for i in lost), runs  # each lost chunk ran once: when it was sent again


def test_a_whole_worker_killed_mid_chunk_comes_back_after_the_visibility_timeout(cluster):
    """kill -9 of a worker and its pool: Redis hands its unacknowledged task to the other worker
    once VIDSEARCH_VISIBILITY_TIMEOUT (12 s here) has passed. Runs last: it leaves one worker."""
    video = make_video(cluster.tmp / "killall.mp4", duration=18, source="testsrc2")  # content unlike the others
    owner = start_owner(cluster, video)
    job_id = job_of(cluster.jobs, video)
    try:
        index, pid = wait_for(lambda: busy_chunk(cluster, job_id), 60, "a chunk in progress", every=0.01)
    except AssertionError:
        owner.kill()
        raise AssertionError(f"{cluster.jobs.get(job_id)}\n{owner.communicate()[0]}\n{cluster.workers.log_tail()}")
    parent = next(p for p in cluster.workers.procs if p.pid == psutil.Process(pid).ppid())
    killed_at = time.monotonic()
    cluster.workers.kill_group(parent)
    job = finish(cluster, owner, job_id, video, killed_chunk=index)
    assert time.monotonic() - killed_at >= 12 - 1  # the other worker waited for the visibility timeout
    assert job.chunks == 4

