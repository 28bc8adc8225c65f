"""Free disk space before anything is written (``VIDSEARCH_MIN_FREE_MB``).

An ingest writes the catalog, the embedded store and thumbnails into the data folder; an upload
writes the video into the upload folder. Both are refused, before the first byte is written, when
the folder's file system would keep less free space than the setting: a clear refusal instead of
a store that runs out of disk half-way through a write.
"""
from __future__ import annotations

import shutil
from pathlib import Path

MIB = 2**20


class LowDiskSpace(Exception):
    """``str(err)`` says where, how much is free and what the setting keeps free."""

    def __init__(self, folder: Path, free: int, reserve: int, needed: int = 0) -> None:
        self.folder, self.free, self.reserve, self.needed = folder, free, reserve, needed
        want = f"{needed / MIB:.0f} MiB for this and " if needed else ""
        super().__init__(f"not enough free disk space in {folder}: {free / MIB:.0f} MiB free, {want}"
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
