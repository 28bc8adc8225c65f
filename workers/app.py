"""The Celery app: broker settings, the three tasks, and what each worker process loads.

Tasks (all ``acks_late`` with ``reject_on_worker_lost``: a message is acknowledged only after its
task returned, and a task whose process died is handed out again):

``vidsearch.prepare(job_id, attempt)``
    hash and probe the file, split it into spans, clear old points, queue one chunk task per span;
``vidsearch.chunk(job_id, attempt, index)``
    index one span and hand its results to the writer (:mod:`workers.writer`);
``vidsearch.finalize(job_id, attempt)``
    direct mode: mark the job done once every chunk is written (the relay owner does it itself);
``vidsearch.discard(job_id, attempt)``
    remove a cancelled attempt's points.

Limits: every task has a hard time limit of ``VIDSEARCH_TASK_TIME_LIMIT`` (a soft one 10% earlier,
which fails the job with a clear reason) and the broker's visibility timeout
(``VIDSEARCH_VISIBILITY_TIMEOUT``) is larger by validation, so Redis never hands a task that is
still running to a second worker. A task whose whole worker died (``kill -9`` of the main process,
a lost machine) is handed out again once the visibility timeout has passed; a killed pool process
is noticed at once. Transient errors (Redis or Qdrant unreachable) retry with exponential backoff
(1, 2, 4 ... 60 s, 8 times), after which the job fails with the error; a retry that cannot be sent
(Redis away) puts the message back instead of dropping it.

Worker processes: the default pool is prefork (time limits need it). Models are loaded in each
pool process after the fork (``worker_process_init``): torch or ONNX Runtime state created before
a fork can hang the child. With ``--pool solo`` (a GPU worker) they load at start-up in the one
process. A loaded process announces itself in Redis (``P:workers:<host>:<pid>``, 10 s expiry), and
``vidsearch jobs`` lists the live ones.

Keys: every Celery key lives under ``P:celery:`` (kombu's ``global_keyprefix``), so several
vidsearch installations, or test runs, share one Redis without seeing each other's queues.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import Reject, SoftTimeLimitExceeded, TimeLimitExceeded

from vidsearch.config import Settings

from . import pipeline
from .jobs import Job, JobStore

log = logging.getLogger(__name__)

MAX_RETRIES = 8
BACKOFF_MAX = 60.0
BACKPRESSURE_DELAY = 10.0


def make_app(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ValueError("VIDSEARCH_BROKER_URL is not set: there is no broker to use")
    app = Celery("vidsearch", broker=settings.broker_url, set_as_current=False)
    visibility = float(settings.visibility_timeout)
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_time_limit=float(settings.task_time_limit),
        task_soft_time_limit=float(settings.task_time_limit) * 0.9,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        # a pool process loads its models before it reports for work (Celery's default wait, 4 s,
        # kills and restarts a process that loads for longer: for ever, on a busy machine)
        worker_proc_alive_timeout=180.0,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={
            "visibility_timeout": visibility,
            "global_keyprefix": f"{settings.redis_prefix}:celery:",
            # look for the messages of dead workers often enough to matter at this timeout
            "unacked_restore_interval": max(1.0, min(10.0, visibility / 6)),
            "unacked_restore_throttle": 1,
        },
    )
    app.vidsearch_settings = settings
    _register(app)
    return app


# ------------------------------------------------------------------------------------------------
# One context per process, built after the fork.
_ctx: dict[str, Any] = {}
_ctx_lock = threading.Lock()


@dataclass
class _Process:
    pid: int
    context: pipeline.Context


def context(app: Celery) -> pipeline.Context:
    with _ctx_lock:
        proc = _ctx.get("process")
        if proc is not None and proc.pid == os.getpid():
            return proc.context
        settings: Settings = app.vidsearch_settings
        jobs = JobStore.from_settings(settings)
        from vidsearch.models.encoders import Encoders

        encoders = Encoders(settings)

        def enqueue_chunk(job: Job, index: int) -> None:
            app.send_task("vidsearch.chunk", args=[job.id, job.attempt, index], queue=job.queue)

        def enqueue_finalize(job: Job) -> None:
            app.send_task("vidsearch.finalize", args=[job.id, job.attempt], queue=job.queue)

        store = None
        if settings.qdrant_url:
            from vidsearch.index.store import open_store

            from .writer import DirectWriter

            store = open_store(settings)
            writer = DirectWriter(settings, store, jobs, enqueue_finalize)
        else:
            from .writer import RedisRelayWriter

            writer = RedisRelayWriter(settings, jobs)
        ctx = pipeline.Context(settings=settings, jobs=jobs, writer=writer, encoders=encoders,
                               enqueue_chunk=enqueue_chunk, enqueue_finalize=enqueue_finalize, store=store,
                               passthrough=(SoftTimeLimitExceeded,))
        _ctx["process"] = _Process(os.getpid(), ctx)
        return ctx


def warm_up(app: Celery) -> None:
    """Load the models in this process and start announcing it (after the fork)."""
    t0 = time.perf_counter()
    ctx = context(app)
    import numpy as np

    ctx.encoders.embed([np.zeros((224, 224, 3), np.uint8)])  # load, and run once: a first run is slow
    log.info("worker process %d: models loaded in %.1f s", os.getpid(), time.perf_counter() - t0)

    def beat() -> None:
        while True:
            try:
                ctx.jobs.heartbeat("workers", ttl=10.0, queues=getattr(app, "vidsearch_queues", None), loaded=True)
            except Exception as exc:  # Redis away: the key expires, which is the truth
                log.debug("heartbeat failed: %s", exc)
            time.sleep(3.0)

    threading.Thread(target=beat, name="vidsearch-heartbeat", daemon=True).start()


# ------------------------------------------------------------------------------------------------
def _backoff(retries: int) -> float:
    return min(BACKOFF_MAX, 2.0 ** retries)


def _retry(task, exc: BaseException):
    """Run the task again after a backoff: Celery sends a new message and acknowledges this one.
    Where the new message cannot be sent (the broker is away too: Redis restarting), Celery would
    drop this message and the job would wait for ever; it is handed back instead (at once if Redis
    is back, else after the visibility timeout, from Redis's list of unacknowledged messages)."""
    try:
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries), max_retries=MAX_RETRIES)
    except Reject as rej:
        if rej.requeue:
            raise
        log.warning("%s %s: the retry could not be sent (%s); the message goes back to the queue",
                    task.name, task.request.args, rej.reason)
        raise Reject(rej.reason, requeue=True) from exc


def _run(task, fn, job_id: str, attempt: int, *args) -> str:
    app = task.app
    try:
        ctx = context(app)  # opens the Qdrant server's client in direct mode
    except Exception as exc:
        if pipeline.is_transient(exc) and task.request.retries < MAX_RETRIES:
            _retry(task, exc)
        raise
    try:
        return fn(ctx, job_id, attempt, *args)
    except pipeline.Backpressure as exc:
        log.info("job %s: %s; chunk queued again in %.0f s", job_id, exc, BACKPRESSURE_DELAY)
        job = ctx.jobs.get(job_id)
        if job is not None:
            task.apply_async(args=[job_id, attempt, *args], countdown=BACKPRESSURE_DELAY, queue=job.queue)
        return "paused"
    except SoftTimeLimitExceeded:
        _give_up(ctx, job_id, attempt, f"a task of it ran longer than VIDSEARCH_TASK_TIME_LIMIT "
                                       f"({app.vidsearch_settings.task_time_limit:g} s); use shorter "
                                       f"VIDSEARCH_CHUNK_SECONDS or a longer limit")
        return "failed"
    except Exception as exc:
        if not pipeline.is_transient(exc):
            raise
        if task.request.retries >= MAX_RETRIES:
            _give_up(ctx, job_id, attempt, f"gave up after {MAX_RETRIES} retries: {type(exc).__name__}: {exc}")
            raise
        log.warning("job %s: %s: %s; retrying in %.0f s", job_id, task.name, exc, _backoff(task.request.retries))
        _retry(task, exc)


def _give_up(ctx: pipeline.Context, job_id: str, attempt: int, reason: str) -> None:
    try:
        job = ctx.jobs.get(job_id)
        if job is not None and job.attempt == attempt:
            pipeline._fail(ctx, job, f"{job.path}: {reason}")
    except Exception as exc:  # Redis itself may be what failed: the job then stays running, visibly stuck
        log.error("job %s: could not record its failure (%s): %s", job_id, exc, reason)


class _JobTask(Task):
    """A task whose failure fails its job. Celery calls ``on_failure`` in the pool process for an
    exception that escapes, and in the worker's main process when the hard time limit killed the
    pool process: the message is then acknowledged, so without this the job would wait for ever."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if len(args) < 2:
            return
        job_id, attempt = args[0], args[1]
        settings = self.app.vidsearch_settings
        if isinstance(exc, TimeLimitExceeded):
            reason = (f"a task of it was killed after VIDSEARCH_TASK_TIME_LIMIT ({settings.task_time_limit:g} s); "
                      f"use shorter VIDSEARCH_CHUNK_SECONDS or a longer limit")
        else:
            reason = f"{self.name} failed: {type(exc).__name__}: {exc}"
        try:
            jobs = JobStore.from_settings(settings, patient=False)
            job = jobs.get(job_id)
            if job is not None and job.attempt == attempt and jobs.finish(job_id, attempt, "failed",
                                                                          error=f"{job.path}: {reason}"):
                log.warning("job %s failed: %s", job_id, reason)
                self.app.send_task("vidsearch.discard", args=[job_id, attempt], queue=job.queue)
        except Exception as err:  # Redis away: the job stays running, visibly stuck
            log.error("job %s: could not record its failure (%s): %s", job_id, err, reason)


def _register(app: Celery) -> None:
    opts = dict(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES, base=_JobTask)

    @app.task(name="vidsearch.prepare", **opts)
    def prepare(self, job_id: str, attempt: int) -> str:
        return _run(self, pipeline.prepare, job_id, attempt)

    @app.task(name="vidsearch.chunk", **opts)
    def chunk(self, job_id: str, attempt: int, index: int) -> str:
        return _run(self, pipeline.run_chunk, job_id, attempt, index)

    def _finalize(ctx: pipeline.Context, job_id: str, attempt: int) -> str:
        return pipeline.finalize(ctx.jobs, ctx.store, job_id, attempt)

    @app.task(name="vidsearch.finalize", **opts)
    def finalize(self, job_id: str, attempt: int) -> str:
        return _run(self, _finalize, job_id, attempt)

    def _discard(ctx: pipeline.Context, job_id: str, attempt: int) -> str:
        job = ctx.jobs.get(job_id)
        if job is None or job.attempt != attempt or job.status not in ("failed", "cancelled"):
            return "stale"
        ctx.writer.discard(job)
        return "discarded"

    @app.task(name="vidsearch.discard", **opts)
    def discard(self, job_id: str, attempt: int) -> str:
        return _run(self, _discard, job_id, attempt)


# ------------------------------------------------------------------------------------------------
def run_worker(settings: Settings, *, concurrency: int = 1, queues: list[str] | None = None,
               pool: str = "prefork", loglevel: str = "WARNING") -> None:
    """``vidsearch worker``: consume ``queues`` with ``concurrency`` pool processes (blocks)."""
    app = make_app(settings)
    queues = queues or [settings.queue]
    app.vidsearch_queues = queues

    if pool == "prefork":
        signals.worker_process_init.connect(lambda **_: warm_up(app), weak=False)
    else:
        signals.worker_ready.connect(lambda **_: warm_up(app), weak=False)

    def _bye(**_):
        proc = _ctx.get("process")
        if proc is not None and proc.pid == os.getpid():
            try:
                proc.context.jobs.clear_heartbeat("workers")
                proc.context.writer.close()
            except Exception:
                pass

    signals.worker_process_shutdown.connect(_bye, weak=False)
    signals.worker_shutdown.connect(_bye, weak=False)
    argv = ["worker", f"--concurrency={concurrency}", f"--queues={','.join(queues)}", f"--pool={pool}",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            f"--hostname=vidsearch-{os.getpid()}@%h", f"--loglevel={loglevel}"]
    app.worker_main(argv)
