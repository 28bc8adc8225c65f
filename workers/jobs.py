"""Job state in Redis: what every process (CLI, web server, workers on any machine) can read.

One job is one request to index one file. Its record is a Redis hash; the chunks it was split into
are counted in per-attempt sets. Keys (``P`` is ``VIDSEARCH_REDIS_PREFIX``)::

    P:jobs                      ZSET  job id -> creation time (listing order)
    P:job:<id>                  HASH  the record (fields of :class:`Job`)
    P:job:<id>:<attempt>:done   SET   indexes of the chunks whose results are written
    P:job:<id>:<attempt>:stats  HASH  chunk index -> JSON counts of that chunk (samples, keyframes, ...)
    P:job:<id>:<attempt>:runs   HASH  chunk index -> how many times a worker started it
    P:job:<id>:<attempt>:live   HASH  chunk index -> JSON {pid, host, started, batches} while it runs
    P:unsynced                  SET   jobs whose state the catalog has not taken in yet
    P:indexed                   SET   video ids indexed through workers (``ingest`` skips them)
    P:video:<video id>          STR   the job that is indexing that video now
    P:owner                     STR   the process that owns the embedded store (expires when it stops)
    P:workers:<host>:<pid>      STR   a worker process with its models loaded (expires when it stops)

States: ``queued`` -> ``running`` -> ``done`` | ``skipped`` | ``failed`` | ``cancelled``. Every
transition is one Lua script that also checks the attempt number, so a late task of an earlier
attempt (a retried or cancelled job) can never change a newer attempt's state. Chunk completion is
a set, not a counter: a chunk that a worker redoes after a crash is counted once.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

STATES = ("queued", "running", "done", "skipped", "failed", "cancelled")
ACTIVE = ("queued", "running")
TERMINAL = ("done", "skipped", "failed", "cancelled")

# Connection errors that a later try may not see (Redis restarting, a network blip): tasks retry.
TRANSIENT_REDIS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def connect(url: str, *, patient: bool = True) -> redis.Redis:
    """A Redis client. ``patient``: retry a failed command for about 30 s with exponential backoff
    (workers ride out a Redis restart); otherwise 3 quick tries (the CLI answers fast)."""
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), 20 if patient else 2)
    return redis.Redis.from_url(url, retry=retry, retry_on_error=[ConnectionError, TimeoutError],
                                socket_connect_timeout=5, socket_timeout=30, health_check_interval=10)


@dataclass
class Job:
    id: str
    path: str
    status: str = "queued"
    attempt: int = 1
    queue: str = "cpu"
    force: bool = False
    camera: str | None = None
    wall_start: float | None = None
    wall_source: str | None = None  # where wall_start came from: pattern, metadata, mtime or given
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    video_id: str | None = None
    size: int = 0
    mtime: float = 0.0
    duration: float | None = None
    chunks: int = 0  # spans the video was split into (known once prepared)
    done: int = 0  # chunks written (filled in by JobStore.get)
    done_seconds: float = 0.0  # seconds of video in those chunks
    samples: int = 0
    keyframes: int = 0
    segments: int = 0
    writer: str | None = None  # direct (a Qdrant server) or relay (the embedded store's owner writes)
    error: str | None = None
    note: str | None = None
    info: dict | None = field(default=None, repr=False)  # VideoInfo as a dict (the catalog keeps it)
    spans: list | None = field(default=None, repr=False)  # [[start, end or null], ...]

    @property
    def progress(self) -> float:
        if self.status in ("done", "skipped"):
            return 1.0
        return self.done / self.chunks if self.chunks else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds until done, from the rate of video seconds written since the job started."""
        if self.status != "running" or not self.started or not self.duration or self.done_seconds <= 0:
            return None
        rate = self.done_seconds / max(time.time() - self.started, 1e-3)
        return max(0.0, (self.duration - self.done_seconds) / rate)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("info")
        d.pop("spans")
        d["progress"] = round(self.progress, 4)
        d["eta"] = None if self.eta is None else round(self.eta, 1)
        return d


_FIELDS = {f.name: f for f in fields(Job)}
_JSON_FIELDS = ("info", "spans")
_COMPUTED = ("done", "done_seconds")


def _encode(value: Any, name: str) -> str:
    if name in _JSON_FIELDS:
        return json.dumps(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def _decode(raw: dict[bytes, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        name, text = k.decode(), v.decode()
        f = _FIELDS.get(name)
        if f is None or name in _COMPUTED:
            continue
        if name in _JSON_FIELDS:
            out[name] = json.loads(text) if text else None
        elif text == "":
            out[name] = None if name not in ("path", "status", "queue") else ""
        elif name in ("attempt", "size", "chunks", "samples", "keyframes", "segments"):
            out[name] = int(text)
        elif name == "force":
            out[name] = text == "1"
        elif name in ("wall_start", "created", "started", "finished", "mtime", "duration"):
            out[name] = float(text)
        else:
            out[name] = text
    return out


# KEYS[1] job hash, KEYS[2] unsynced set; ARGV[1] job id, ARGV[2] attempt ("" = any),
# ARGV[3] comma-separated states allowed now, ARGV[4] new state, ARGV[5...] field, value pairs.
_TRANSITION = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'attempt')
if not cur[1] then return -1 end
if ARGV[2] ~= '' and cur[2] ~= ARGV[2] then return 0 end
local ok = false
for s in string.gmatch(ARGV[3], '[^,]+') do if s == cur[1] then ok = true end end
if not ok then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[4])
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# KEYS[1] job hash; ARGV[1] attempt, ARGV[2...] field, value pairs: set only while running that attempt.
_IF_CURRENT = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'attempt')
if cur[1] ~= 'running' or cur[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


class JobStore:
    """Jobs of one Redis prefix. Every method is one or a few round trips."""

    def __init__(self, r: redis.Redis, prefix: str = "vidsearch"):
        self.r = r
        self.prefix = prefix
        self._transition = r.register_script(_TRANSITION)
        self._if_current = r.register_script(_IF_CURRENT)

    @classmethod
    def from_settings(cls, settings, *, patient: bool = True) -> "JobStore":
        if not settings.broker_url:
            raise ValueError("no broker configured (VIDSEARCH_BROKER_URL)")
        return cls(connect(settings.broker_url, patient=patient), settings.redis_prefix)

    # keys -------------------------------------------------------------------------------------
    def key(self, *parts: Any) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def _job(self, job_id: str) -> str:
        return self.key("job", job_id)

    def _part(self, job_id: str, attempt: int, what: str) -> str:
        return self.key("job", job_id, attempt, what)

    # creating and reading ---------------------------------------------------------------------
    def create(self, path: str, **values: Any) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], path=path, created=time.time(), **values)
        mapping = {k: _encode(v, k) for k, v in asdict(job).items() if k not in _COMPUTED}
        pipe = self.r.pipeline()
        pipe.hset(self._job(job.id), mapping=mapping)
        pipe.zadd(self.key("jobs"), {job.id: job.created})
        pipe.execute()
        return job

    def get(self, job_id: str) -> Job | None:
        pipe = self.r.pipeline()
        pipe.hgetall(self._job(job_id))
        raw = pipe.execute()[0]
        if not raw:
            return None
        job = Job(**_decode(raw))
        stats = self.chunk_stats(job.id, job.attempt)
        job.done = len(stats)
        job.done_seconds = sum(s.get("seconds", 0.0) for s in stats.values())
        return job

    def ids(self, limit: int | None = None) -> list[str]:
        """Job ids, newest first."""
        raw = self.r.zrevrange(self.key("jobs"), 0, -1 if limit is None else limit - 1)
        return [x.decode() for x in raw]

    def list(self, limit: int | None = None) -> list[Job]:
        return [j for j in (self.get(i) for i in self.ids(limit)) if j is not None]

    def find(self, prefix: str) -> Job | None:
        """The job whose id is or starts with ``prefix`` (ValueError when several do)."""
        job = self.get(prefix)
        if job is not None:
            return job
        hits = [i for i in self.ids() if i.startswith(prefix)]
        if len(hits) > 1:
            raise ValueError(f"job id {prefix!r} is ambiguous: {', '.join(hits[:5])}")
        return self.get(hits[0]) if hits else None

    def forget(self, job_id: str) -> None:
        """Remove a finished job's record (and its chunk sets)."""
        job = self.get(job_id)
        if job is None:
            return
        keys = [self._job(job_id)] + [self._part(job_id, a, w) for a in range(1, job.attempt + 1)
                                      for w in ("done", "stats", "runs", "live")]
        pipe = self.r.pipeline()
        pipe.delete(*keys)
        pipe.zrem(self.key("jobs"), job_id)
        pipe.srem(self.key("unsynced"), job_id)
        pipe.execute()

    # transitions ------------------------------------------------------------------------------
    def transition(self, job_id: str, at_attempt: int | None, allowed: Iterable[str], status: str,
                   **values: Any) -> bool:
        """Set ``status`` (and ``values``) when the job is in one of ``allowed`` states and at
        ``at_attempt`` (None: any attempt). Marks the job unsynced. False when it was not."""
        args: list[Any] = [job_id, "" if at_attempt is None else str(at_attempt), ",".join(allowed), status]
        for k, v in values.items():
            args += [k, _encode(v, k)]
        res = self._transition(keys=[self._job(job_id), self.key("unsynced")], args=args)
        return int(res) == 1

    def set_if_current(self, job_id: str, attempt: int, **values: Any) -> bool:
        """Set fields of a job that is running ``attempt``; False (nothing set) otherwise."""
        args: list[Any] = [str(attempt)]
        for k, v in values.items():
            args += [k, _encode(v, k)]
        return int(self._if_current(keys=[self._job(job_id)], args=args)) == 1

    def start(self, job_id: str, attempt: int) -> bool:
        return self.transition(job_id, attempt, ("queued",), "running", started=time.time())

    def finish(self, job_id: str, attempt: int, status: str, **values: Any) -> bool:
        """``done``/``skipped``/``failed`` for a queued or running ``attempt``; frees the video."""
        assert status in TERMINAL, status
        ok = self.transition(job_id, attempt, ACTIVE, status, finished=time.time(), **values)
        if ok:
            job = self.get(job_id)
            if job is not None and job.video_id:
                self.release_video(job.video_id, job_id)
                if status == "done":
                    self.r.sadd(self.key("indexed"), job.video_id)
        return ok

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job (any attempt): its tasks stop at their next check."""
        ok = self.transition(job_id, None, ACTIVE, "cancelled", finished=time.time(),
                             error="cancelled by the user")
        if ok:
            job = self.get(job_id)
            if job is not None and job.video_id:
                self.release_video(job.video_id, job_id)
        return ok

    def retry(self, job_id: str, *, force: bool = True) -> Job | None:
        """Queue a failed or cancelled job again as a new attempt (tasks of the old attempt are
        ignored from now on), or a job stuck in ``queued`` (its client died before sending it).
        None when the job is running or finished well."""
        job = self.get(job_id)
        if job is None or job.status not in ("failed", "cancelled", "queued"):
            return None
        ok = self.transition(job_id, job.attempt, ("failed", "cancelled", "queued"), "queued",
                             attempt=job.attempt + 1, error=None, note=None, started=None, finished=None,
                             force=force, samples=0, keyframes=0, segments=0, chunks=0, spans=None, writer=None)
        return self.get(job_id) if ok else None

    # chunks -----------------------------------------------------------------------------------
    def chunk_started(self, job_id: str, attempt: int, index: int) -> int:
        """Note that this process runs the chunk now; returns how many times it was started."""
        live = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "batches": 0})
        pipe = self.r.pipeline()
        pipe.hincrby(self._part(job_id, attempt, "runs"), index, 1)
        pipe.hset(self._part(job_id, attempt, "live"), index, live)
        return int(pipe.execute()[0])

    def chunk_progress(self, job_id: str, attempt: int, index: int, batches: int, started: float) -> None:
        live = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started, "batches": batches})
        self.r.hset(self._part(job_id, attempt, "live"), index, live)

    def chunk_left(self, job_id: str, attempt: int, index: int) -> None:
        """The chunk stopped without finishing (cancelled, failed): it no longer runs."""
        self.r.hdel(self._part(job_id, attempt, "live"), index)

    def live_chunks(self, job_id: str, attempt: int) -> dict[int, dict]:
        raw = self.r.hgetall(self._part(job_id, attempt, "live"))
        return {int(k): json.loads(v) for k, v in raw.items()}

    def chunk_done(self, job_id: str, attempt: int, index: int, stats: dict) -> tuple[int, int]:
        """Record a written chunk (idempotent); returns (chunks written, chunks in the job)."""
        pipe = self.r.pipeline()  # MULTI/EXEC: the count is the one after this chunk's own write
        pipe.sadd(self._part(job_id, attempt, "done"), index)
        pipe.hset(self._part(job_id, attempt, "stats"), index, json.dumps(stats))
        pipe.hdel(self._part(job_id, attempt, "live"), index)
        pipe.scard(self._part(job_id, attempt, "done"))
        pipe.hget(self._job(job_id), "chunks")
        res = pipe.execute()
        return int(res[3]), int(res[4] or 0)

    def done_chunks(self, job_id: str, attempt: int) -> set[int]:
        return {int(x) for x in self.r.smembers(self._part(job_id, attempt, "done"))}

    def chunk_stats(self, job_id: str, attempt: int) -> dict[int, dict]:
        raw = self.r.hgetall(self._part(job_id, attempt, "stats"))
        return {int(k): json.loads(v) for k, v in raw.items()}

    def is_current(self, job_id: str, attempt: int) -> bool:
        status, current = self.r.hmget(self._job(job_id), "status", "attempt")
        return status == b"running" and current is not None and int(current) == attempt

    # videos -----------------------------------------------------------------------------------
    def claim_video(self, video_id: str, job_id: str) -> str | None:
        """Make ``job_id`` the one job indexing ``video_id``; returns the other active job that
        already is, else None. A claim held by a job that is no longer active is taken over."""
        key = self.key("video", video_id)
        for _ in range(3):
            if self.r.set(key, job_id, nx=True):
                return None
            holder = (self.r.get(key) or b"").decode()
            if holder == job_id:
                return None
            other = self.get(holder) if holder else None
            if other is not None and other.status in ACTIVE:
                return holder
            self.r.delete(key)  # stale claim (job finished or forgotten)
        return None

    def release_video(self, video_id: str, job_id: str) -> None:
        key = self.key("video", video_id)
        if (self.r.get(key) or b"").decode() == job_id:
            self.r.delete(key)

    def is_indexed(self, video_id: str) -> bool:
        return bool(self.r.sismember(self.key("indexed"), video_id))

    def forget_video(self, video_id: str) -> None:
        """The video was deleted from the index: a later ingest indexes it again."""
        self.r.srem(self.key("indexed"), video_id)

    # catalog sync -----------------------------------------------------------------------------
    def unsynced(self) -> list[str]:
        return [x.decode() for x in self.r.smembers(self.key("unsynced"))]

    def synced(self, job_id: str) -> None:
        self.r.srem(self.key("unsynced"), job_id)

    # processes --------------------------------------------------------------------------------
    def heartbeat(self, role: str, ttl: float = 10.0, **info: Any) -> None:
        """``role``: ``owner`` (one key) or ``workers`` (one key per process)."""
        info.update(pid=os.getpid(), host=socket.gethostname(), at=time.time())
        key = self.key("owner") if role == "owner" else self.key("workers", socket.gethostname(), os.getpid())
        self.r.set(key, json.dumps(info), px=int(ttl * 1000))

    def clear_heartbeat(self, role: str) -> None:
        key = self.key("owner") if role == "owner" else self.key("workers", socket.gethostname(), os.getpid())
        self.r.delete(key)

    def owner(self) -> dict | None:
        raw = self.r.get(self.key("owner"))
        return json.loads(raw) if raw else None

    def workers(self) -> list[dict]:
        keys = list(self.r.scan_iter(match=self.key("workers", "*"), count=500))
        values = self.r.mget(keys) if keys else []
        return [json.loads(v) for v in values if v]
