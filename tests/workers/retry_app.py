"""The Celery app of ``test_app.py``'s worker: vidsearch's own app (:func:`workers.app.make_app`)
with one more task, run through :func:`workers.app._run` like the real ones. Its first run fails as
a task does when Redis goes away, and Redis is away for exactly the retry that follows: it is
stopped (SIGTERM to ``RETRY_REDIS_PID``) when the retry's message is sent, and the send returns
(failed) only once the test has started Redis again. Every run leaves a file ``run-N`` in
``RETRY_MARKS``; ``redis-stopped`` tells the test to start Redis again."""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import redis

from vidsearch.config import Settings
from workers.app import MAX_RETRIES, _JobTask, _run, make_app

app = make_app(Settings.from_env())
MARKS = Path(os.environ["RETRY_MARKS"])
PORT = int(os.environ["RETRY_REDIS_PORT"])


def _answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=0.5).close()
        return True
    except OSError:
        return False


def _until(cond, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)


class _OutageAtRetry(_JobTask):
    def signature_from_request(self, *args, **kwargs):
        sig = super().signature_from_request(*args, **kwargs)
        send = sig.apply_async

        def apply_async(*a, **kw):
            os.kill(int(os.environ["RETRY_REDIS_PID"]), signal.SIGTERM)
            _until(lambda: not _answers(), 10)
            (MARKS / "redis-stopped").touch()
            try:
                return send(*a, **kw)
            finally:
                _until(_answers, 30)  # the test starts it again

        sig.apply_async = apply_async
        return sig


def _flaky(ctx, job_id: str, attempt: int) -> str:
    n = len(list(MARKS.glob("run-*")))
    (MARKS / f"run-{n}").write_text(str(os.getpid()))
    if n == 0:
        raise redis.exceptions.ConnectionError("Redis went away (test)")
    return "done"


@app.task(name="test.flaky", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES,
          base=_OutageAtRetry)
def flaky(self, job_id: str, attempt: int) -> str:
    return _run(self, _flaky, job_id, attempt)
