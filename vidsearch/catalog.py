"""The catalog: one record per video, in SQLite in the data folder, surviving restarts.

A video's id is derived from its content (``content_id``), so the same footage under two names or
in two folders is one video. The catalog is the source of truth for *status*: a video is only
``indexed`` once all its frames and segments were written to the vector store, so a crash while
indexing leaves it ``indexing`` and the next ingest redoes it
(:meth:`vidsearch.library.Library.resume`).

Deleting a video is two steps for the same reason: :meth:`Catalog.begin_delete` removes the record
and notes the id in ``pending_deletes`` in one transaction, the caller removes the vectors and
thumbnails, and :meth:`Catalog.end_delete` drops the note. A crash in between leaves the note, and
the next opener finishes the removal (:class:`vidsearch.library.Library`), so a video is never
listed ``indexed`` with its points gone, nor are points left behind without a record.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

STATUSES = ("queued", "indexing", "indexed", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    duration REAL,
    fps REAL,
    width INTEGER,
    height INTEGER,
    status TEXT NOT NULL,
    error TEXT,
    frames INTEGER NOT NULL DEFAULT 0,
    segments INTEGER NOT NULL DEFAULT 0,
    info TEXT,
    added_at REAL NOT NULL,
    indexed_at REAL,
    camera TEXT,
    wall_start REAL
);
CREATE INDEX IF NOT EXISTS videos_path ON videos(path);
CREATE TABLE IF NOT EXISTS pending_deletes (
    id TEXT PRIMARY KEY,
    since REAL NOT NULL
);
"""
# Columns added after the first release: (name, SQL type), added to older catalogs on open.
_ADDED_COLUMNS = (("camera", "TEXT"), ("wall_start", "REAL"))


def content_id(path: str | Path, chunk: int = 1 << 20) -> str:
    """A stable id from the file's bytes (BLAKE2b, 16 hex digits)."""
    h = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class VideoRecord:
    id: str
    path: str
    status: str
    size: int = 0
    mtime: float = 0.0
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    frames: int = 0
    segments: int = 0
    info: dict | None = None
    added_at: float = 0.0
    indexed_at: float | None = None
    camera: str | None = None  # the camera that recorded it (``vidsearch watch --camera``)
    wall_start: float | None = None  # wall-clock start of the recording, seconds since the epoch (UTC)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("info")
        return d


class Catalog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(videos)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE videos ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self._db.close()

    # -- reads ---------------------------------------------------------------------------
    @staticmethod
    def _record(row: sqlite3.Row) -> VideoRecord:
        d = dict(row)
        d["info"] = json.loads(d["info"]) if d["info"] else None
        return VideoRecord(**d)

    def get(self, video_id: str) -> VideoRecord | None:
        row = self._db.execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()
        return self._record(row) if row else None

    def find_unchanged(self, path: str, size: int, mtime: float) -> VideoRecord | None:
        """The record of a file already seen at this path with this size and mtime."""
        row = self._db.execute(
            "SELECT * FROM videos WHERE path = ? AND size = ? AND mtime = ?", (path, size, mtime)
        ).fetchone()
        return self._record(row) if row else None

    def list(self, status: str | None = None) -> list[VideoRecord]:
        sql, args = "SELECT * FROM videos", ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        return [self._record(r) for r in self._db.execute(sql + " ORDER BY added_at, id", args)]

    def __iter__(self) -> Iterator[VideoRecord]:
        return iter(self.list())

    # -- writes --------------------------------------------------------------------------
    def upsert(self, rec: VideoRecord) -> None:
        d = asdict(rec)
        d["info"] = json.dumps(d["info"]) if d["info"] is not None else None
        d["added_at"] = d["added_at"] or time.time()
        cols = ", ".join(d)
        marks = ", ".join(f":{k}" for k in d)
        updates = ", ".join(f"{k} = excluded.{k}" for k in d if k not in ("id", "added_at"))
        self._db.execute(
            f"INSERT INTO videos ({cols}) VALUES ({marks}) ON CONFLICT(id) DO UPDATE SET {updates}", d
        )

    def set_status(self, video_id: str, status: str, *, error: str | None = None, **fields) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        fields.update(status=status, error=error)
        if status == "indexed":
            fields["indexed_at"] = time.time()
        if "info" in fields:
            fields["info"] = json.dumps(fields["info"]) if fields["info"] is not None else None
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._db.execute(f"UPDATE videos SET {sets} WHERE id = ?", (*fields.values(), video_id))

    def delete(self, video_id: str) -> bool:
        return self._db.execute("DELETE FROM videos WHERE id = ?", (video_id,)).rowcount > 0

    # -- deletes that survive a crash (see the module's docstring) ---------------------------
    def begin_delete(self, video_id: str) -> bool:
        """Remove the record and remember that the video's vectors and thumbnails must go, in one
        transaction. False (and nothing noted) when there is no such record."""
        with self._db:  # isolation_level=None: open the transaction ourselves
            self._db.execute("BEGIN IMMEDIATE")
            gone = self._db.execute("DELETE FROM videos WHERE id = ?", (video_id,)).rowcount > 0
            if gone:
                self._db.execute("INSERT OR REPLACE INTO pending_deletes (id, since) VALUES (?, ?)",
                                 (video_id, time.time()))
        return gone

    def pending_deletes(self) -> list[str]:
        """Ids whose removal began and did not finish (a crash), oldest first."""
        return [r[0] for r in self._db.execute("SELECT id FROM pending_deletes ORDER BY since, id")]

    def end_delete(self, video_id: str) -> None:
        self._db.execute("DELETE FROM pending_deletes WHERE id = ?", (video_id,))
