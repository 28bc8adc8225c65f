"""Watch folders: index camera recordings once they are complete, with their camera and start time.

A recording is **complete** when all of these hold (checked every ``interval`` seconds):

1. its size and modification time have not changed for ``stable`` seconds;
2. no process has it open for writing (Linux: ``/proc/*/fd`` with write access in
   ``/proc/*/fdinfo``; processes of other users are invisible without privileges, so this check
   only adds to rule 1);
3. it probes as a video (an MP4 whose writer has not yet written its index does not). A file that
   still does not probe after ``10 * stable`` seconds unchanged is handed on anyway, so that it is
   recorded as failed with the reason instead of being ignored for ever.

A complete file is handed on once per (path, size, mtime): a file that changes again later is a new
recording. Files already there when the watch starts are handed on too (ingest skips what is
indexed).

**Wall-clock start**: from the file name when ``pattern`` (``strptime`` directives, found anywhere
in the name: ``gate1_%Y%m%d_%H%M%S`` or just ``%Y%m%d-%H%M%S``) matches; else the container's
``creation_time`` tag (UTC); else the modification time minus the duration (a camera writes until
the recording ends). Names without a UTC offset (``%z``) are local time, or UTC with ``utc=True``.
The source is recorded (``pattern``, ``metadata``, ``mtime``).
"""
from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from vidsearch.ingest.discover import discover
from vidsearch.media.errors import MediaError

log = logging.getLogger(__name__)

_DIRECTIVES = {
    "Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "I": r"\d{2}",
    "M": r"\d{2}", "S": r"\d{2}", "f": r"\d{1,6}", "j": r"\d{3}", "p": r"(?:AM|PM|am|pm)",
    "b": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "z": r"(?:Z|[+-]\d{2}:?\d{2})", "%": "%",
}


def pattern_regex(pattern: str) -> re.Pattern:
    """A regex that finds text ``datetime.strptime(text, pattern)`` can read."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%":
            if i + 1 >= len(pattern) or pattern[i + 1] not in _DIRECTIVES:
                raise ValueError(f"time pattern {pattern!r}: unsupported directive at {pattern[i:i + 2]!r} "
                                 f"(use {' '.join('%' + d for d in _DIRECTIVES if d != '%')})")
            out.append(_DIRECTIVES[pattern[i + 1]])
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out))


def wall_start_from_name(name: str, pattern: str, *, utc: bool = False) -> float | None:
    """Seconds since the epoch from the first part of ``name`` matching ``pattern``, or None."""
    m = pattern_regex(pattern).search(name)
    if m is None:
        return None
    try:
        dt = datetime.strptime(m.group(0), pattern)
    except ValueError:
        return None
    if dt.tzinfo is None and utc:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()  # naive: local time


def parse_creation_time(text: str | None) -> float | None:
    """A container's ``creation_time`` (ISO-8601, UTC when no offset) as seconds since the epoch."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    if dt.year < 1971:  # an unset clock (1904/1970 epochs)
        return None
    return dt.timestamp()


def recording_start(path: str | Path, info, *, pattern: str | None = None, utc: bool = False,
                    mtime: float | None = None) -> tuple[float | None, str | None]:
    """(wall-clock start, source) of a recording: see the module notes."""
    if pattern:
        t = wall_start_from_name(Path(path).name, pattern, utc=utc)
        if t is not None:
            return t, "pattern"
    t = parse_creation_time(getattr(info, "creation_time", None))
    if t is not None:
        return t, "metadata"
    if mtime is not None and info is not None:
        return mtime - float(info.duration), "mtime"
    return None, None


def open_for_writing() -> set[str]:
    """Paths that some visible process has open for writing (Linux /proc; empty elsewhere)."""
    found: set[str] = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd_dir / fd)
                if not target.startswith("/"):
                    continue
                flags = 0
                with open(proc / pid / "fdinfo" / fd) as f:
                    for line in f:
                        if line.startswith("flags:"):
                            flags = int(line.split()[1], 8)
                            break
            except (OSError, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                found.add(target)
    return found


@dataclass
class _Seen:
    sig: tuple[int, int]  # (size, mtime_ns)
    since: float  # when this signature was first seen


@dataclass
class Recording:
    path: Path
    size: int
    mtime: float
    info: object | None  # VideoInfo, or None when it does not probe (handed on to fail clearly)
    error: str | None = None


class FolderWatch:
    def __init__(self, folder: str | Path, *, stable: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.folder = Path(folder)
        self.stable = float(stable)
        self.clock = clock
        self._seen: dict[Path, _Seen] = {}
        self._handed: dict[Path, tuple[int, int]] = {}

    def scan(self) -> list[Recording]:
        """The recordings that became complete since the last scan."""
        from vidsearch.media import probe

        now = self.clock()
        candidates: list[tuple[Path, os.stat_result]] = []
        present = set()
        for path in discover([self.folder]):
            try:
                st = path.stat()
            except OSError:
                continue
            present.add(path)
            sig = (st.st_size, st.st_mtime_ns)
            seen = self._seen.get(path)
            if seen is None or seen.sig != sig:
                self._seen[path] = _Seen(sig, now)
                continue
            if self._handed.get(path) == sig or now - seen.since < self.stable or st.st_size == 0:
                continue
            candidates.append((path, st))
        for gone in set(self._seen) - present:
            self._seen.pop(gone, None)
            self._handed.pop(gone, None)
        if not candidates:
            return []
        writing = open_for_writing()
        ready = []
        for path, st in candidates:
            if str(path) in writing or os.path.realpath(path) in writing:
                continue
            try:
                info, error = probe(path), None
            except MediaError as exc:
                if now - self._seen[path].since < 10 * self.stable:
                    continue  # maybe still being written (an MP4 gets its index last)
                info, error = None, str(exc)
            self._handed[path] = (st.st_size, st.st_mtime_ns)
            ready.append(Recording(path, st.st_size, st.st_mtime, info, error))
        return ready

    def run(self, handle: Callable[[Recording], None], *, interval: float = 2.0, once: bool = False,
            stop: Callable[[], bool] = lambda: False) -> None:
        """Scan every ``interval`` s and ``handle`` each complete recording. ``once``: stop when every
        file present has been handed on (or waited on for ``10 * stable`` s without completing)."""
        started = self.clock()
        while not stop():
            for rec in self.scan():
                handle(rec)
            if once and self._settled(started):
                return
            time.sleep(interval)

    def _settled(self, started: float) -> bool:
        pending = [p for p, s in self._seen.items() if self._handed.get(p) != s.sig]
        return not pending or self.clock() - started > 10 * self.stable + 1
