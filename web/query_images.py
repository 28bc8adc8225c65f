"""Query pictures kept under their content hash for a while, so that a search page's link
(``/?image=HASH``) and ``GET /api/v1/search?image=HASH`` search the same picture again.

A picture that decoded as a query is copied to ``<data folder>/queries/<hash><ext>`` (the hash is
the upload's BLAKE2b-64, as video ids are); files unused for ``KEEP_S`` go, and beyond ``MOST``
files the least recently used go, whenever a new one is kept. Clips are not kept (they may be
hundreds of MiB); a link to a clip search holds only its filters.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

KEEP_S = 7 * 24 * 3600.0  # a week since the picture was last searched
MOST = 500  # pictures kept at most (each at most VIDSEARCH_MAX_QUERY_MB)
_HASH = re.compile(r"^[0-9a-f]{16}$")
_EXT = re.compile(r"^\.[a-z0-9]{1,5}$")


def keep(folder: Path, source: str | Path, digest: str, name: str | None) -> str:
    """Copy ``source`` (a query picture that decoded) under ``digest``; returns the digest."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = Path(name or "").suffix.lower()
    ext = ext if _EXT.match(ext) else ".img"
    existing = find(folder, digest)
    if existing is not None:
        os.utime(existing)
        return digest
    # a name of its own: two searches of the same new picture at once each write their copy
    fd, tmp = tempfile.mkstemp(prefix=f".{digest}.", suffix=".part", dir=folder)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, folder / f"{digest}{ext}")
    finally:
        Path(tmp).unlink(missing_ok=True)
    _prune(folder)
    return digest


def find(folder: Path, digest: str) -> Path | None:
    """The kept picture of ``digest`` (marked as used now), or None; a malformed digest is None."""
    if not _HASH.match(digest or ""):
        return None
    for path in folder.glob(f"{digest}.*"):
        if path.is_file() and not path.is_symlink():
            try:
                os.utime(path)
            except FileNotFoundError:  # pruned by another request just now
                continue
            return path
    return None


def _prune(folder: Path) -> None:
    now = time.time()
    files = []
    for p in folder.iterdir():
        try:
            if p.is_file() and not p.name.startswith("."):
                files.append((p.stat().st_mtime, p))
        except FileNotFoundError:  # removed by another request's prune meanwhile
            continue
    files.sort(key=lambda x: x[0], reverse=True)
    for i, (mtime, path) in enumerate(files):
        if i >= MOST or now - mtime > KEEP_S:
            path.unlink(missing_ok=True)
