"""A chunk that outruns VIDSEARCH_TASK_TIME_LIMIT fails its job with the reason, never hangs it."""
import json
import uuid

from tests.conftest import make_video
from tests.workers.conftest import Workers, _drop_prefix, vidsearch, worker_env
from vidsearch.config import Settings
from vidsearch.library import Library
from workers.jobs import JobStore
from workers.owner import library_jobs


def test_a_chunk_past_the_time_limit_fails_the_job_clearly(redis_base, tmp_path):
    prefix = f"vstest-{uuid.uuid4().hex[:10]}"
    # one chunk of 750 frames (every frame of 30 s) cannot finish in 2 s
    env = worker_env(tmp_path / "data", redis_base, prefix, SAMPLE_FPS=25, CHUNK_SECONDS=600,
                     TASK_TIME_LIMIT=2, VISIBILITY_TIMEOUT=30)
    settings = Settings.from_env(env)
    jobs = JobStore.from_settings(settings)
    video = make_video(tmp_path / "long.mp4", duration=30, source="testsrc2")
    workers = Workers(env, 1, tmp_path / "logs")
    try:
        workers.wait_ready(jobs, 1)
        p = vidsearch(env, "ingest", str(video), "--wait", "--json", check=False, timeout=120)
    finally:
        workers.stop()
        _drop_prefix(redis_base, prefix)
    assert p.returncode == 1, p.stdout + p.stderr
    job = json.loads(p.stdout)["results"][0]["job"]
    assert job["status"] == "failed" and "VIDSEARCH_TASK_TIME_LIMIT" in job["error"] and str(video) in job["error"]
    with Library(settings, jobs=library_jobs(settings)) as lib:
        rec = lib.video(job["video_id"])
        assert rec.status == "failed" and "VIDSEARCH_TASK_TIME_LIMIT" in rec.error
        assert lib.store.count_frames(job["video_id"]) == 0  # its partial results were removed
