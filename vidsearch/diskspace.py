"""Free disk space before anything is written (``VIDSEARCH_MIN_FREE_MB``).

An ingest writes the catalog, the embedded store and thumbnails into the data folder; an upload
writes the video into the upload folder. Both are refused, before the first byte is written, when
the folder's file system would keep less free space than the setting: a clear refusal instead of
a store that runs out of disk half-way through a write.

The embedded store (Qdrant Edge) maps its files into memory and makes them sparse (a 32 MiB
chunk file holds a few vectors). On tmpfs, touching a hole of a mapped file allocates it, even
to read it, and opening a shard reads all of its files: on a full tmpfs the process dies of
SIGBUS. :func:`back_files` allocates those holes beforehand with ``fallocate`` (the space the
engine takes anyway once it has opened the files), so that a full disk is a clear
:class:`LowDiskSpace` instead (docs/reliability.md, issue 13).
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import struct
from pathlib import Path

MIB = 2**20


class LowDiskSpace(Exception):
    """``str(err)`` says where, how much is free and what the setting keeps free."""

    def __init__(self, folder: Path, free: int, reserve: int, needed: int = 0, *, what: str = "") -> None:
        self.folder, self.free, self.reserve, self.needed, self.what = folder, free, reserve, needed, what
        want = f"{needed / MIB:.0f} MiB for this and " if needed else ""
        where = what or f"in {folder}"
        super().__init__(f"not enough free disk space {where}: {free / MIB:.0f} MiB free, {want}"
                         f"{reserve / MIB:g} MiB kept free (VIDSEARCH_MIN_FREE_MB)")


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system of ``folder`` (of its nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_free_space(folder: Path, min_free_mb: float, needed: int = 0) -> None:
    """Raise :class:`LowDiskSpace` when writing ``needed`` bytes into ``folder`` would leave less
    than ``min_free_mb`` MiB free."""
    reserve = int(min_free_mb * MIB)
    if reserve <= 0 and needed <= 0:
        return
    free = free_bytes(folder)
    if free - needed < reserve:
        raise LowDiskSpace(Path(folder), free, reserve, needed)


TMPFS_MAGIC = 0x01021994  # statfs(2) f_type of tmpfs (and of /dev/shm)


def is_tmpfs(folder: Path) -> bool:
    """True when ``folder`` (its nearest existing parent) lies on tmpfs, where a mapped file's holes
    are allocated when they are read (Linux only; elsewhere False)."""
    folder = Path(folder)
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(256)  # struct statfs, f_type first
        if libc.statfs(os.fsencode(str(folder)), buf) != 0:
            return False
        return struct.unpack_from("l", buf.raw)[0] == TMPFS_MAGIC
    except (OSError, AttributeError):
        return False


def unbacked_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` that are holes (not yet allocated)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name), follow_symlinks=False)
            except OSError:
                continue
            total += max(0, st.st_size - st.st_blocks * 512)
    return total


def back_files(folder: Path, min_free_mb: float = 0) -> int:
    """Allocate the holes of every file under ``folder`` (``fallocate``, nothing written), leaving
    ``min_free_mb`` MiB free; return the bytes allocated. Raise :class:`LowDiskSpace`, having
    allocated nothing more, when the file system has not that much room."""
    folder = Path(folder)
    needed = unbacked_bytes(folder)
    if needed <= 0:
        return 0
    check_free_space(folder, min_free_mb, needed)
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path, follow_symlinks=False)
                if st.st_size <= st.st_blocks * 512 or not os.path.isfile(path):
                    continue
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                os.posix_fallocate(fd, 0, st.st_size)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise LowDiskSpace(folder, free_bytes(folder), int(min_free_mb * MIB), needed) from None
                raise
            finally:
                os.close(fd)
    return needed


RESERVE_FILE = "disk-reserve"  # in the data folder
RESERVE_FILE_MB = 8


def reserve_file(data_dir: Path) -> Path:
    """The data folder's reserve file: ``RESERVE_FILE_MB`` MiB kept allocated while the disk has
    room, and given back when it is full, so that opening the library (the store rewrites its
    config, SQLite makes its ``-wal``/``-shm`` files) still finds the few KiB it writes."""
    return Path(data_dir) / RESERVE_FILE


def release_reserve_if_full(path: Path) -> bool:
    """Delete the reserve file ``path`` when its file system has less than ``RESERVE_FILE_MB``
    MiB free; True if it did."""
    path = Path(path)
    if not path.exists() or free_bytes(path.parent) >= RESERVE_FILE_MB * MIB:
        return False
    path.unlink(missing_ok=True)
    return True


def keep_reserve(path: Path, min_free_mb: float = 0) -> None:
    """Make the reserve file ``path`` again when it is missing and the disk has room for it and
    ``min_free_mb`` MiB more; never raises."""
    path = Path(path)
    try:
        if path.exists() or not path.parent.is_dir():
            return
        if free_bytes(path.parent) - RESERVE_FILE_MB * MIB < min_free_mb * MIB:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(fd, 0, RESERVE_FILE_MB * MIB)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            return
        os.close(fd)
    except OSError:
        pass
