"""workers/app.py with a real Redis and a real Celery worker process."""
from __future__ import annotations

import subprocess
import sys
import time

from vidsearch.config import Settings

from .conftest import REPO, PrivateRedis, worker_env


def _wait(cond, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_a_task_whose_retry_cannot_be_sent_runs_again_when_redis_is_back(tmp_path):
    """A task that fails because Redis went away retries by sending a new message, which fails too
    while Redis is away; Celery then rejects the message without requeueing it, and once Redis is
    back that reject goes through: the message, a chunk of a job, is gone and the job waits for
    ever (seen once in test_cluster.py's Redis restart). The message must come back and run."""
    from workers.app import make_app

    server = PrivateRedis(tmp_path / "redis").start()  # append-only file: a restart keeps the queue
    marks = tmp_path / "marks"
    marks.mkdir()
    env = worker_env(tmp_path / "data", server.url, "vstest-retry", task_time_limit=4, visibility_timeout=6)
    env.update(RETRY_MARKS=str(marks), RETRY_REDIS_PID=str(server.proc.pid), RETRY_REDIS_PORT=str(server.port))
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "tests.workers.retry_app", "worker",
                               "--pool", "solo", "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat",
                               "--without-gossip", "--without-mingle", "-Q", Settings.from_env(env).queue],
                              env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        make_app(Settings.from_env(env)).send_task("test.flaky", args=["job", 1], queue=Settings.from_env(env).queue)
        assert _wait(lambda: (marks / "redis-stopped").exists(), 90), (tmp_path / "worker.log").read_text()[-3000:]
        server.proc.wait(15)  # stopped as the task's retry is sent ...
        time.sleep(2.0)  # ... which fails ...
        server.start()  # ... and Redis comes back on the same port, with its append-only file
        ran_again = _wait(lambda: (marks / "run-1").exists(), 45)  # visibility timeout 6 s, + restore
        assert ran_again, (tmp_path / "worker.log").read_text()[-4000:]
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.stop()
