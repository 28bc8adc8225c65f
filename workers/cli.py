"""The commands of distributed ingestion and watch folders, for :mod:`vidsearch.cli`.

``vidsearch ingest PATHS [--wait]`` (with ``VIDSEARCH_BROKER_URL``), ``vidsearch worker``,
``vidsearch jobs [--json] | cancel ID | retry ID``, ``vidsearch watch FOLDER --camera LABEL``.
Nothing here imports Celery or Redis until a command needs them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def add_parsers(sub, ingest: argparse.ArgumentParser) -> None:
    ingest.add_argument("--wait", action="store_true",
                        help="with a broker: block until every queued video is indexed, showing progress "
                             "(and write the results into the embedded store when no server owns it)")
    ingest.add_argument("--queue", help="with a broker: the queue to send the jobs to (default VIDSEARCH_QUEUE)")

    wk = sub.add_parser("worker", help="run a Celery worker that indexes queued videos (VIDSEARCH_BROKER_URL)")
    wk.add_argument("--concurrency", type=int, default=1, help="pool processes, each with its own models (default 1)")
    wk.add_argument("--queues", default=None, help="comma-separated queues to take jobs from: cpu, gpu "
                                                   "(default VIDSEARCH_QUEUE)")
    wk.add_argument("--pool", choices=("prefork", "solo", "threads"), default="prefork",
                    help="prefork (default: time limits work, models load after the fork) or solo (one process)")
    wk.add_argument("--loglevel", default=None, help="Celery log level (default WARNING, INFO with -v)")

    jb = sub.add_parser("jobs", help="ingest jobs (with a broker): state, progress, ETA, errors; cancel, retry")
    jb.add_argument("--json", action="store_true")
    jb.add_argument("--all", action="store_true", help="every job, not only the active and the last 20")
    act = jb.add_subparsers(dest="jobs_action")
    act.add_parser("cancel", help="cancel a queued or running job").add_argument("job_id")
    act.add_parser("retry", help="queue a failed or cancelled job again").add_argument("job_id")

    wa = sub.add_parser("watch", help="index recordings as they are completed in a folder")
    wa.add_argument("folder")
    wa.add_argument("--camera", required=True, help="camera label stored with every recording of this folder")
    wa.add_argument("--pattern", help="strptime pattern of the start time in file names, e.g. %%Y%%m%%d_%%H%%M%%S")
    wa.add_argument("--utc", action="store_true", help="times in file names are UTC (default: local time)")
    wa.add_argument("--stable", type=float, default=10.0,
                    help="seconds a file's size must stay unchanged before it counts as complete (default 10)")
    wa.add_argument("--interval", type=float, default=2.0, help="seconds between scans (default 2)")
    wa.add_argument("--once", action="store_true", help="index what is complete now, then exit")
    wa.add_argument("--queue", help="with a broker: the queue to send the jobs to")


def handles(args, settings) -> bool:
    return args.command in ("worker", "jobs", "watch") or (args.command == "ingest" and bool(settings.broker_url))


def run(settings, args) -> int:
    import redis

    try:
        if args.command == "worker":
            return cmd_worker(settings, args)
        if args.command == "jobs":
            return cmd_jobs(settings, args)
        if args.command == "watch":
            return cmd_watch(settings, args)
        return cmd_ingest(settings, args)
    except redis.exceptions.ConnectionError as exc:
        print(f"vidsearch: error: cannot reach Redis at {settings.broker_url}: {exc}", file=sys.stderr)
        return 2


def _need_broker(settings, what: str) -> None:
    if not settings.broker_url:
        raise ValueError(f"`vidsearch {what}` needs a broker: set VIDSEARCH_BROKER_URL=redis://host:6379/0")


# ------------------------------------------------------------------------------------------------
def cmd_worker(settings, args) -> int:
    _need_broker(settings, "worker")
    from .app import run_worker

    queues = [q.strip() for q in (args.queues or settings.queue).split(",") if q.strip()]
    level = args.loglevel or ("INFO" if args.verbose else "WARNING")
    run_worker(settings, concurrency=max(1, args.concurrency), queues=queues, pool=args.pool, loglevel=level)
    return 0


# ------------------------------------------------------------------------------------------------
def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def job_line(job) -> str:
    if job.status == "running" and job.chunks:
        progress = f"{job.done}/{job.chunks} {100 * job.progress:3.0f}%"
    elif job.status in ("done", "skipped"):
        progress = "100%"
    else:
        progress = "-"
    line = f"{job.id}  {job.status:9s} {progress:>12s}  {fmt_eta(job.eta):>7s}  {job.path}"
    if job.error:
        line += f"\n    error: {job.error}"
    elif job.note:
        line += f"\n    note: {job.note}"
    return line


def cmd_jobs(settings, args) -> int:
    _need_broker(settings, "jobs")
    from .client import Client

    client = Client(settings)
    if args.jobs_action in ("cancel", "retry"):
        job = client.jobs.find(args.job_id)
        if job is None:
            print(f"no job with id {args.job_id}", file=sys.stderr)
            return 1
        if args.jobs_action == "cancel":
            if not client.cancel(job.id):
                print(f"job {job.id} is {job.status}: nothing to cancel", file=sys.stderr)
                return 1
            print(f"cancelled {job.id}  {job.path}")
            return 0
        again = client.retry(job.id)
        if again is None:
            print(f"job {job.id} is {job.status}: only failed, cancelled or stuck queued jobs are retried",
                  file=sys.stderr)
            return 1
        print(f"queued   {again.id}  {again.path}  (attempt {again.attempt})")
        return 0

    jobs = client.jobs.list()
    if not args.all:
        active = [j for j in jobs if j.status in ("queued", "running")]
        finished = [j for j in jobs if j.status not in ("queued", "running")][:20]
        jobs = active + finished
    workers = client.jobs.workers()
    owner = client.jobs.owner()
    backlog = int(client.jobs.r.get(client.jobs.key("relay", "bytes")) or 0)
    pending = client.jobs.r.xlen(client.jobs.key("relay"))
    if args.json:
        print(json.dumps({"jobs": [j.to_dict() for j in jobs], "workers": workers, "owner": owner,
                          "relay": {"messages": pending, "bytes": backlog}}, indent=2))
        return 0
    if not jobs:
        print("no jobs: vidsearch ingest PATH")
    for j in jobs:
        print(job_line(j))
    names = ", ".join(sorted(f"{w['host']}:{w['pid']}" for w in workers))
    print(f"workers: {len(workers)} alive" + (f" ({names})" if workers else ": start one with `vidsearch worker`"))
    if not settings.qdrant_url:
        who = f"pid {owner['pid']} on {owner['host']}" if owner else "none running (vidsearch serve or ingest --wait)"
        print(f"store owner: {who}; results waiting for it: {pending} messages, {backlog / 2**20:.1f} MB")
    return 0


# ------------------------------------------------------------------------------------------------
class _Owner:
    """This process's part while it waits: drain the relay when it can own the embedded store,
    keep the local catalog in step in any case."""

    def __init__(self, settings, note):
        from vidsearch.catalog import Catalog
        from vidsearch.index.lock import OwnerLock, StoreLocked, read_holder_pid

        from .owner import OwnerLoop

        self.lock = self.store = None
        store = None
        if not settings.qdrant_url:
            lock = OwnerLock(settings.lock_path)
            try:
                lock.acquire()
                from vidsearch.index.store import open_store

                store = open_store(settings)
                self.lock = lock
            except StoreLocked:
                lock.release()
                pid = read_holder_pid(settings.lock_path)
                note(f"the store is owned by {'pid ' + str(pid) if pid else 'another process'} "
                     f"(vidsearch serve?): it writes the results")
        self.store = store
        self.loop = OwnerLoop(settings, store, requeue_lost=False)  # this process stops soon
        self.catalog = Catalog(settings.catalog_path)

    def step(self) -> None:
        self.loop.step(self.catalog, block_ms=200)

    def close(self) -> None:
        from .owner import sync_catalog

        try:
            if self.store is not None:  # what the workers sent after the last job ended (a discard)
                self.loop.settle(self.catalog)
            sync_catalog(self.catalog, self.loop.jobs)
            if self.store is not None:
                self.loop.jobs.clear_heartbeat("owner")
        finally:
            self.catalog.close()
            if self.store is not None:
                self.store.close()
            if self.lock is not None:
                self.lock.release()


def cmd_ingest(settings, args) -> int:
    from .client import Client

    client = Client(settings)
    submitted = client.submit(args.paths, force=args.force, queue=args.queue)
    if not submitted:
        print("no video files found", file=sys.stderr)
        return 1
    for s in submitted:
        if args.json:
            continue
        if s.status == "queued":
            print(f"queued   {s.job_id}  {s.path}")
        elif s.status == "skipped":
            print(f"skipped  {s.video_id}  {s.path}  (already indexed)")
        else:
            print(f"FAILED   {s.error}", file=sys.stderr)
    ids = [s.job_id for s in submitted if s.job_id]

    def note(text: str) -> None:
        print(f"vidsearch: {text}", file=sys.stderr, flush=True)

    if not args.wait or not ids:
        if ids and not settings.qdrant_url and client.jobs.owner() is None:
            note("the results wait in Redis until a process owns the store: `vidsearch serve` "
                 "or `vidsearch ingest --wait`")
        if args.json:
            print(json.dumps({"results": [s.to_dict() for s in submitted]}, indent=2))
        return 1 if any(s.status == "failed" for s in submitted) else 0

    owner = _Owner(settings, note) if ids else None
    t0 = time.monotonic()

    def update(job) -> None:
        if not args.json:
            print(job_line(job), flush=True)

    try:
        final = client.wait(ids, on_update=update, step=owner.step if owner else None, on_note=note)
    finally:
        if owner is not None:
            owner.close()
    wall = time.monotonic() - t0
    failed = [j for j in final.values() if j.status in ("failed", "cancelled")]
    if args.json:
        by_id = {j.id: j.to_dict() for j in final.values()}
        print(json.dumps({"results": [{**s.to_dict(), "job": by_id.get(s.job_id)} for s in submitted],
                          "wall_s": round(wall, 3)}, indent=2))
    else:
        done = [j for j in final.values() if j.status == "done"]
        seconds = sum(j.duration or 0 for j in done)
        skipped = sum(j.status == "skipped" for j in final.values()) + sum(s.status == "skipped" for s in submitted)
        print(f"{len(done)} indexed ({seconds:.1f} s of video in {wall:.1f} s), {skipped} skipped, "
              f"{len(failed) + sum(s.status == 'failed' for s in submitted)} failed")
    return 1 if failed or any(s.status == "failed" for s in submitted) else 0


# ------------------------------------------------------------------------------------------------
def cmd_watch(settings, args) -> int:
    from vidsearch.ingest.watch import FolderWatch, recording_start

    if not os.path.isdir(args.folder):
        raise ValueError(f"{args.folder} is not a folder")
    if args.pattern:
        from vidsearch.ingest.watch import pattern_regex

        pattern_regex(args.pattern)  # a bad pattern fails now, not at the first file
    watch = FolderWatch(args.folder, stable=args.stable)
    failures = 0

    def start_of(rec):
        return recording_start(rec.path, rec.info, pattern=args.pattern, utc=args.utc, mtime=rec.mtime)

    if settings.broker_url:
        from .client import Client

        client = Client(settings)

        def handle(rec) -> None:
            nonlocal failures
            wall, source = start_of(rec)
            for s in client.submit([rec.path], camera=args.camera, wall_start=wall, wall_source=source,
                                   queue=args.queue):
                failures += s.status == "failed"
                print(f"{s.status:8s} {s.job_id or s.video_id or ''}  {s.path}  camera={args.camera} "
                      f"start={_iso(wall)} ({source})" + (f"\n    error: {s.error}" if s.error else ""), flush=True)

        print(f"vidsearch: watching {args.folder} (camera {args.camera}); jobs go to the workers", flush=True)
        watch.run(handle, interval=args.interval, once=args.once)
        return 1 if failures else 0

    from vidsearch.library import Library

    from workers.owner import library_jobs

    with Library(settings, jobs=library_jobs(settings)) as lib:
        def handle(rec) -> None:
            nonlocal failures
            wall, source = start_of(rec)
            r = lib.runner.ingest_file(rec.path, camera=args.camera, wall_start=wall)
            failures += r.status == "failed"
            print(f"{r.status:8s} {r.video_id or ''}  {r.path}  camera={args.camera} start={_iso(wall)} ({source})"
                  + (f"\n    error: {r.error}" if r.error else ""), flush=True)

        print(f"vidsearch: watching {args.folder} (camera {args.camera}); indexing in this process", flush=True)
        watch.run(handle, interval=args.interval, once=args.once)
    return 1 if failures else 0


def _iso(t: float | None) -> str:
    if t is None:
        return "unknown"
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")
