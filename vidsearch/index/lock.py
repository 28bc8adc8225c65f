"""One owner of an embedded store.

Both embedded Qdrant modes (qdrant-edge-py and qdrant-client's local mode) allow one process per
storage folder. :class:`OwnerLock` makes that rule explicit and its failure readable: the first
process takes an exclusive, non-blocking ``flock`` on a lock file in the data folder and writes its
pid into it; a second owner -- another process, or another ``OwnerLock`` on the same file in this
process -- gets :class:`StoreLocked` naming the folder and the holder's pid.

The kernel drops the lock when the holder exits, however it exits, so a crash never leaves a stale
lock behind (the file stays; its content is only informative).
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path


class StoreLocked(RuntimeError):
    """The data folder (its embedded vector store) is already owned by another process."""

    def __init__(self, folder: str | os.PathLike, pid: int | None = None, detail: str | None = None):
        self.folder = str(folder)
        self.pid = pid
        self.detail = detail
        if pid is None:
            who = "another process"
        elif pid == os.getpid():
            who = f"another owner in this process (pid {pid})"
        else:
            who = f"another process (pid {pid})"
        msg = (
            f"the vidsearch data folder {self.folder} is in use by {who}; stop it, or point "
            f"VIDSEARCH_DATA_DIR elsewhere, or go through that process's server (or a Qdrant "
            f"server: VIDSEARCH_QDRANT_URL)"
        )
        if detail:
            msg += f" [{detail}]"
        super().__init__(msg)

    def __reduce__(self):  # keep it picklable (Celery results, multiprocessing)
        return (type(self), (self.folder, self.pid, self.detail))


def read_holder_pid(path: str | os.PathLike) -> int | None:
    """The pid written in a lock file, or None when there is none (yet)."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None


class OwnerLock:
    """``with OwnerLock(settings.lock_path): ...`` or ``acquire()`` / ``release()``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "OwnerLock":
        if self._fd is not None:
            return self  # this object already holds it
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreLocked(self.folder, read_holder_pid(self.path)) from None
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            os.fsync(fd)
        except OSError:
            pass  # the lock itself is what matters; the pid is informative
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> "OwnerLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):
        try:
            self.release()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"OwnerLock({str(self.path)!r}, held={self.held})"
