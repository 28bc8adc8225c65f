"""The cache of browser-playable copies (``<data>/playable/<video id>.mp4``) within a disk budget.

A video that browsers cannot play (:func:`vidsearch.media.playable.unplayable_reason`) gets a copy,
made by one background thread, one copy at a time (it is CPU work), after a web job indexed the
video (web/jobs.py ``on_indexed``) or on its first play.
:meth:`PlayableCopies.state` says ``ready``, ``preparing`` (with progress), ``failed`` (with the
reason) or ``absent``.

- Budget (``VIDSEARCH_PLAYABLE_BUDGET_MB``): before a copy is made, the least recently used copies
  (by access time, which :meth:`PlayableCopies.touch` sets on every play, leaving the modification
  time, and so the ETag of Range requests, alone) are removed until the source's size fits; ffmpeg
  is stopped (``-fs``) at the budget or at the free disk less ``VIDSEARCH_MIN_FREE_MB``, whichever is
  smaller, and a copy cut short is discarded, never kept. After it is made, older copies go until
  the total fits again.
- Crash safety: ffmpeg writes ``.<id>.mp4.<pid>.<thread>.part`` and the copy is renamed into place
  only when complete; opening the cache removes every ``.part`` left by a killed process.
- A deleted video's copy is removed (:meth:`PlayableCopies.remove`, which also stops its ffmpeg);
  :meth:`PlayableCopies.sweep` removes copies of videos the catalog no longer knows (a delete done
  while no server ran).

The source is handed over as an open file descriptor, which the cache closes when done, so the copy
is made of the file the caller checked (``web.files.open_indexed``).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vidsearch.diskspace import MIB, free_bytes
from vidsearch.media.errors import MediaError
from vidsearch.media.playable import Cancelled, Streams, make_playable_copy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopyState:
    status: str  # ready | preparing | failed | absent
    progress: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return {"status": self.status, "progress": round(self.progress, 3), "error": self.error}


@dataclass
class _Task:
    video_id: str
    fd: int
    streams: Streams
    duration: float
    size: int
    progress: float = 0.0
    cancel: threading.Event = None  # type: ignore[assignment]
    proc: object = None


class PlayableCopies:
    def __init__(self, folder: Path, *, budget_mb: float, min_free_mb: float = 0.0, ffmpeg: str = "ffmpeg") -> None:
        self.folder = Path(folder)
        self.budget = int(budget_mb * MIB)
        self.min_free = int(min_free_mb * MIB)
        self.ffmpeg = ffmpeg
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}  # queued or running
        self._failed: dict[str, str] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.folder.mkdir(parents=True, exist_ok=True)
        for part in self.folder.glob(".*.part"):  # left by a process killed mid-copy
            part.unlink(missing_ok=True)

    def path(self, video_id: str) -> Path:
        return self.folder / f"{video_id}.mp4"

    # -- asking --------------------------------------------------------------------------------
    def state(self, video_id: str) -> CopyState:
        with self._lock:
            return self._state_locked(video_id)

    def ensure(self, video_id: str, fd: int, streams: Streams, duration: float) -> CopyState:
        """The copy's state; when it is absent (and has not failed), queue making it from ``fd``.
        Takes ``fd`` over (closed here or when the copy is made)."""
        with self._lock:
            state = self._state_locked(video_id)
            if state.status != "absent" or self._stopping.is_set():
                os.close(fd)
                return state
            if self.budget <= 0:
                os.close(fd)
                self._failed[video_id] = "playable copies are off (VIDSEARCH_PLAYABLE_BUDGET_MB=0)"
                return CopyState("failed", error=self._failed[video_id])
            self._tasks[video_id] = _Task(video_id, fd, streams, duration, os.fstat(fd).st_size,
                                          cancel=threading.Event())
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="vidsearch-playable", daemon=True)
                self._thread.start()
        self._queue.put(video_id)
        return CopyState("preparing", 0.0)

    def _state_locked(self, video_id: str) -> CopyState:
        task = self._tasks.get(video_id)
        if task is not None:
            return CopyState("preparing", task.progress)
        if video_id in self._failed:
            return CopyState("failed", error=self._failed[video_id])
        return CopyState("ready", 1.0) if self.path(video_id).is_file() else CopyState("absent")

    def touch(self, video_id: str) -> None:
        """Mark the copy used now (access time only: its modification time, and ETag, stay)."""
        try:
            st = os.stat(self.path(video_id))
            os.utime(self.path(video_id), ns=(time.time_ns(), st.st_mtime_ns))
        except OSError:
            pass

    # -- removing ------------------------------------------------------------------------------
    def remove(self, video_id: str) -> None:
        """Forget the video: stop its copy if one is being made, delete the copy."""
        with self._lock:
            task = self._tasks.get(video_id)
            self._failed.pop(video_id, None)
            if task is not None:
                task.cancel.set()
                if task.proc is not None:
                    task.proc.kill()
        self.path(video_id).unlink(missing_ok=True)

    def sweep(self, known_ids: set[str]) -> list[str]:
        """Remove the copies of videos not in ``known_ids``; their ids."""
        gone = [p.stem for p in self.folder.glob("*.mp4") if p.stem not in known_ids]
        for video_id in gone:
            self.remove(video_id)
        return gone

    def used_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("*.mp4") if p.is_file())

    def _evict(self, need: int, keep: str) -> None:
        """Remove the least recently used copies (not ``keep``) until ``need`` more bytes fit."""
        copies = []
        for p in self.folder.glob("*.mp4"):
            try:
                st = p.stat()
            except OSError:
                continue
            copies.append((st.st_atime_ns, st.st_size, p))
        used = sum(size for _, size, _ in copies)
        for _, size, p in sorted(copies):
            if used + need <= self.budget:
                break
            if p.stem == keep:
                continue
            p.unlink(missing_ok=True)
            used -= size
            log.info("playable copy %s removed (least recently used; budget %d MiB)", p.name, self.budget // MIB)

    # -- the worker ----------------------------------------------------------------------------
    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._lock:
            for task in self._tasks.values():
                task.cancel.set()
                if task.proc is not None:
                    task.proc.kill()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            video_id = self._queue.get()
            if video_id is None:
                break
            with self._lock:
                task = self._tasks.get(video_id)
            if task is None:
                continue
            try:
                self._make(task)
            except Cancelled:
                log.info("playable copy of %s cancelled", video_id)
            except MediaError as exc:
                log.warning("playable copy of %s failed: %s", video_id, exc.reason)
                with self._lock:
                    self._failed[video_id] = exc.reason
            except Exception as exc:  # a bug: this copy fails, the others go on
                log.exception("playable copy of %s failed", video_id)
                with self._lock:
                    self._failed[video_id] = f"internal error: {type(exc).__name__}"
            finally:
                os.close(task.fd)
                with self._lock:
                    self._tasks.pop(video_id, None)
            if task.cancel.is_set():  # deleted while being made: nothing may stay
                self.path(video_id).unlink(missing_ok=True)
            if self._stopping.is_set():
                break

    def _make(self, task: _Task) -> None:
        if task.cancel.is_set():
            raise Cancelled(task.video_id)
        self._evict(min(task.size, self.budget), keep=task.video_id)
        room = free_bytes(self.folder) - self.min_free
        limit = min(self.budget - self.used_bytes(), room)
        if limit <= MIB:
            raise MediaError(task.video_id, f"no room for a playable copy: {max(room, 0) / MIB:.0f} MiB free "
                                            f"above VIDSEARCH_MIN_FREE_MB, budget {self.budget / MIB:.0f} MiB "
                                            "(VIDSEARCH_PLAYABLE_BUDGET_MB)")

        def progress(fraction: float) -> None:
            task.progress = fraction

        def started(proc) -> None:
            with self._lock:
                task.proc = proc
                if task.cancel.is_set():
                    proc.kill()

        began = time.monotonic()
        try:
            make_playable_copy(task.fd, self.path(task.video_id), streams=task.streams, duration=task.duration,
                               ffmpeg=self.ffmpeg, max_bytes=limit, progress=progress, cancel=task.cancel,
                               started=started)
        except MediaError as exc:
            # larger than the room that the source's size made: once more with every other copy gone
            if task.cancel.is_set() or limit >= min(self.budget, room) or "would take more than" not in exc.reason:
                raise
            self._evict(self.budget, keep=task.video_id)
            task.progress = 0.0
            make_playable_copy(task.fd, self.path(task.video_id), streams=task.streams, duration=task.duration,
                               ffmpeg=self.ffmpeg, max_bytes=min(self.budget - self.used_bytes(), room),
                               progress=progress, cancel=task.cancel, started=started)
        log.info("playable copy of %s made in %.1f s", task.video_id, time.monotonic() - began)
        self._evict(0, keep=task.video_id)
