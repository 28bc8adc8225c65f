"""Chunks whose task message the broker lost: found and sent again by the owner loop.

A chunk's message is in one of three places while its job runs: a queue (kombu's Redis lists
``P:celery:<queue>`` and its priority lists), the unacknowledged hash of the worker that took it
(``P:celery:unacked``, until the task returns), or nowhere because the chunk is written
(``P:job:<id>:<attempt>:done``). Between a worker's ``BRPOP`` and its entry in the unacknowledged
hash it is in none, for a moment; a Redis restart in that moment loses it for good (no visibility
timeout brings back what Redis never recorded), and the job would wait for ever.

:class:`Redelivery` looks at the running jobs that made no progress for :data:`QUIET_S`. A chunk
that is not written, not running (``live``) and whose message is in no queue and no worker's
hands, in every look over :data:`CONFIRM_S` seconds, is sent again (at most once a
:data:`RESEND_S`). Running a chunk twice is harmless: its points have deterministic ids, its
``done`` mark is a set member, and a worker skips a chunk already written.
"""
from __future__ import annotations

import base64
import json
import logging
import time
from typing import Callable, Iterable

from .jobs import Job, JobStore

log = logging.getLogger(__name__)

QUIET_S = 10.0  # a job whose chunks moved within this many seconds is not looked at
CONFIRM_S = 10.0  # a chunk must be missing from the broker for this long before it is sent again
EVERY_S = 5.0  # the broker's queues are read at most this often
RESEND_S = 300.0  # a chunk sent again is not sent again before this
SEP = "\x06\x16"  # kombu's separator between a queue's name and its priority


def _task(raw: bytes | str | dict) -> tuple[str, tuple] | None:
    """(task name, args) of a kombu message (JSON, body base64-encoded JSON), or None."""
    try:
        msg = json.loads(raw) if not isinstance(raw, dict) else raw
        body = msg["body"]
        if msg.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return str(msg["headers"]["task"]), tuple(args)
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def pending_tasks(r, celery_prefix: str, queues: Iterable[str]) -> set[tuple[str, tuple]]:
    """(task name, args) of every message waiting in ``queues`` or taken by a worker and not yet
    acknowledged. ``celery_prefix``: kombu's ``global_keyprefix`` (``P:celery:``)."""
    from kombu.transport.redis import PRIORITY_STEPS

    out: set[tuple[str, tuple]] = set()
    for queue in set(queues):
        for step in PRIORITY_STEPS:
            key = f"{celery_prefix}{queue}" + (f"{SEP}{step}" if step else "")
            out.update(t for t in map(_task, r.lrange(key, 0, -1)) if t is not None)
    for raw in r.hvals(f"{celery_prefix}unacked"):
        try:
            message = json.loads(raw)[0]
        except (ValueError, IndexError, TypeError):
            continue
        task = _task(message)
        if task is not None:
            out.add(task)
    return out


class Redelivery:
    """``send(job, index)`` queues a chunk task (the owner's Celery client)."""

    def __init__(self, jobs: JobStore, send: Callable[[Job, int], None]):
        self.jobs = jobs
        self.send = send
        self.celery_prefix = jobs.key("celery") + ":"
        self.quiet_s, self.confirm_s, self.every_s, self.resend_s = QUIET_S, CONFIRM_S, EVERY_S, RESEND_S
        self._moved: dict[tuple[str, int], tuple[tuple, float]] = {}  # (job, attempt) -> (progress, since)
        self._missing: dict[tuple[str, int, int], float] = {}  # chunk -> first seen missing
        self._sent: dict[tuple[str, int, int], float] = {}
        self._looked = -float("inf")
        self.resent: list[tuple[str, int, int]] = []

    def _still(self, job: Job, now: float) -> tuple[set[int], bool]:
        """(chunks neither written nor running, whether the job made no progress for quiet_s)."""
        done = self.jobs.done_chunks(job.id, job.attempt)
        live = self.jobs.live_chunks(job.id, job.attempt)
        progress = (len(done), tuple(sorted((i, v.get("batches", 0)) for i, v in live.items())))
        key = (job.id, job.attempt)
        before = self._moved.get(key)
        if before is None or before[0] != progress:
            self._moved[key] = (progress, now)
            return set(), False
        waiting = {i for i in range(job.chunks) if i not in done and i not in live}
        return waiting, now - before[1] >= self.quiet_s

    def check(self, jobs: Iterable[Job], now: float | None = None) -> list[tuple[str, int, int]]:
        """Look at the running ``jobs``; send again the chunks lost by the broker. Returns them."""
        now = time.monotonic() if now is None else now
        if now - self._looked < self.every_s:
            return []
        self._looked = now
        stalled: dict[tuple[str, int], tuple[Job, set[int]]] = {}
        for job in jobs:
            if job.status != "running" or job.spans is None or not job.chunks:
                continue
            waiting, quiet = self._still(job, now)
            if waiting and quiet:
                stalled[(job.id, job.attempt)] = (job, waiting)
        running = {(job.id, job.attempt) for job in jobs}
        self._moved = {k: v for k, v in self._moved.items() if k in running}
        if not stalled:
            self._missing.clear()
            return []
        pending = pending_tasks(self.jobs.r, self.celery_prefix, {job.queue for job, _ in stalled.values()})
        chunks = {args for name, args in pending if name == "vidsearch.chunk" and len(args) == 3}
        preparing = {args for name, args in pending if name == "vidsearch.prepare" and len(args) == 2}
        missing, sent = {}, []
        for key, (job, waiting) in stalled.items():
            if key in preparing:  # a prepare of this attempt queues its unwritten chunks itself
                continue
            for index in sorted(waiting):
                chunk = (job.id, job.attempt, index)
                if chunk in chunks:
                    continue
                missing[chunk] = first = self._missing.get(chunk, now)
                if now - first >= self.confirm_s and now - self._sent.get(chunk, -float("inf")) >= self.resend_s:
                    self.send(job, index)
                    self._sent[chunk] = now
                    sent.append(chunk)
                    log.warning("job %s: chunk %d was in no queue and with no worker for %.0f s (its message was "
                                "lost, as in a Redis restart): sent again", job.id, index, now - first)
        self._missing = missing
        self.resent.extend(sent)
        return sent
