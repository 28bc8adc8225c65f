"""Watchlists, their alerts, marks and webhook deliveries, in one SQLite file in the data folder.

A watchlist is a standing query: an image (or a region of one), a clip, a text, or example moments
(positives, optionally negatives), a threshold, optional filters (camera, hours of the day) and an
optional webhook. The query's vectors are computed once, when it is created, and stored here with
it (``vectors``: an ``.npz`` blob; example watchlists also keep their fitted ``model``), so checking
a new video never decodes the query again.

An alert is one moment of one video for one watchlist. ``key`` (watchlist, video, the moment's
timestamp to the second) is unique, and a new alert inside an earlier alert's span of the same
watchlist and video is not written: a restart or a re-index never alerts twice for one moment.
Marks (right / wrong) of alerts or backtest matches are kept per watchlist (``marks``) to re-fit its
threshold (:mod:`vidsearch.alert.teach`). ``deliveries`` is the webhook queue (:mod:`vidsearch.alert.webhook`).
"""
from __future__ import annotations

import argparse
import io
import json
import re
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vidsearch.query import parse_time_of_day
from vidsearch.search.daytime import seconds_of_day

KINDS = ("image", "region", "clip", "text", "examples")
NAME = re.compile(r"^[\w][\w .'&+-]{0,79}$")
HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watchlists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    threshold REAL NOT NULL,
    threshold_source TEXT NOT NULL DEFAULT 'default',
    camera TEXT,
    hours TEXT,
    webhook TEXT,
    query TEXT NOT NULL DEFAULT '{}',
    vectors BLOB,
    model BLOB,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    watchlist_id INTEGER NOT NULL,
    key TEXT NOT NULL UNIQUE,
    video_id TEXT NOT NULL,
    path TEXT,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    timestamp REAL NOT NULL,
    score REAL NOT NULL,
    confidence TEXT,
    thumbnail TEXT,
    wall_time REAL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_watchlist ON alerts(watchlist_id, created);
CREATE TABLE IF NOT EXISTS marks (
    id INTEGER PRIMARY KEY,
    watchlist_id INTEGER NOT NULL,
    video_id TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    timestamp REAL NOT NULL,
    score REAL NOT NULL,
    right INTEGER NOT NULL,
    created REAL NOT NULL,
    UNIQUE (watchlist_id, video_id, start, "end")
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL UNIQUE,
    watchlist_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_at);
"""


class WatchlistError(ValueError):
    """A watchlist cannot be made or changed as asked; ``field`` names what is wrong."""

    def __init__(self, field_: str, message: str) -> None:
        super().__init__(f"{field_}: {message}")
        self.field = field_


@dataclass
class Watchlist:
    name: str
    kind: str
    threshold: float
    query: dict = field(default_factory=dict)  # text / region / examples / source file name
    camera: str | None = None
    hours: str | None = None  # "HH:MM-HH:MM" of the recording's wall-clock time (VIDSEARCH_TIMEZONE); may wrap midnight
    webhook: str | None = None
    threshold_source: str = "default"  # default (the kind's calibrated floor) | set | marks
    vectors: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    model: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    id: int | None = None
    created: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("vectors", "model"):
            d.pop(k)
        return d


@dataclass
class Alert:
    watchlist: str
    video_id: str
    start: float
    end: float
    timestamp: float
    score: float
    confidence: str | None = None
    thumbnail: str | None = None
    path: str | None = None
    wall_time: float | None = None  # the moment's wall-clock time when the recording's start is known
    created: float = 0.0
    id: int | None = None
    watchlist_id: int | None = None

    @property
    def key(self) -> str:
        return alert_key(self.watchlist_id, self.video_id, self.timestamp)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("start", "end", "timestamp"):
            d[k] = round(float(d[k]), 3)
        d["score"] = round(float(d["score"]), 4)
        return d


def alert_key(watchlist_id, video_id: str, timestamp: float) -> str:
    return f"{watchlist_id}:{video_id}:{int(round(float(timestamp)))}"


def check_name(name) -> str:
    if not isinstance(name, str) or not NAME.match(name.strip()):
        raise WatchlistError("name", f"{name!r}: use 1-80 letters, digits, spaces and . ' & + - (starting with a "
                                     "letter or digit)")
    return name.strip()


def check_hours(hours) -> str | None:
    if hours is None or (isinstance(hours, str) and not hours.strip()):
        return None
    if not isinstance(hours, str) or not HOURS.match(hours.strip()):
        raise WatchlistError("hours", f"{hours!r}: give HH:MM-HH:MM (the VIDSEARCH_TIMEZONE clock), e.g. 22:00-06:00")
    try:
        parse_time_of_day(hours)  # the search's own rule (an empty window is refused)
    except argparse.ArgumentTypeError as exc:
        raise WatchlistError("hours", str(exc)) from None
    return hours.strip()


def in_hours(hours: str | None, wall_time: float | None, zone=None) -> bool:
    """Whether a moment's wall-clock time (seconds since the epoch) lies in ``hours``, read on the
    clock of ``zone`` (VIDSEARCH_TIMEZONE, :func:`vidsearch.search.daytime.zone_of`; None: the
    server's zone), as the search's time-of-day filter reads it. A moment of a recording whose start
    is unknown never matches an hours filter."""
    if hours is None:
        return True
    if wall_time is None:
        return False
    a, b = parse_time_of_day(hours)
    t = seconds_of_day(wall_time, zone)
    return a <= t < b if a <= b else (t >= a or t < b)


def _pack(arrays: dict[str, np.ndarray]) -> bytes | None:
    if not arrays:
        return None
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def _unpack(blob: bytes | None) -> dict[str, np.ndarray]:
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class WatchlistStore:
    """The SQLite file; safe to share between threads (one lock around every statement)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._cache: list[Watchlist] | None = None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _q(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- watchlists --------------------------------------------------------------------------
    @staticmethod
    def _watchlist(row) -> Watchlist:
        d = dict(row)
        d["query"] = json.loads(d["query"] or "{}")
        d["vectors"], d["model"] = _unpack(d["vectors"]), _unpack(d["model"])
        return Watchlist(**d)

    def add(self, w: Watchlist) -> Watchlist:
        w.name = check_name(w.name)
        if w.kind not in KINDS:
            raise WatchlistError("kind", f"{w.kind!r}: one of {', '.join(KINDS)}")
        w.hours = check_hours(w.hours)
        w.created = w.created or time.time()
        try:
            with self._lock:
                cur = self._db.execute(
                    "INSERT INTO watchlists (name, kind, threshold, threshold_source, camera, hours, webhook, query,"
                    " vectors, model, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (w.name, w.kind, float(w.threshold), w.threshold_source, w.camera, w.hours, w.webhook,
                     json.dumps(w.query), _pack(w.vectors), _pack(w.model), w.created))
                w.id = cur.lastrowid
                self._cache = None
        except sqlite3.IntegrityError:
            raise WatchlistError("name", f"a watchlist named {w.name!r} already exists") from None
        return w

    def update(self, w: Watchlist) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE watchlists SET threshold=?, threshold_source=?, camera=?, hours=?, webhook=?, query=?,"
                " vectors=?, model=? WHERE id=?",
                (float(w.threshold), w.threshold_source, w.camera, check_hours(w.hours), w.webhook,
                 json.dumps(w.query), _pack(w.vectors), _pack(w.model), w.id))
            self._cache = None

    def list(self) -> list[Watchlist]:
        """Every watchlist, oldest first (cached until one changes: a new video reads them all)."""
        with self._lock:
            if self._cache is None:
                self._cache = [self._watchlist(r) for r in self._q("SELECT * FROM watchlists ORDER BY id")]
            return list(self._cache)

    def get(self, name: str) -> Watchlist | None:
        return next((w for w in self.list() if w.name == name), None)

    def remove(self, name: str) -> bool:
        with self._lock:
            w = self.get(name)
            if w is None:
                return False
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                for table in ("alerts", "marks", "deliveries"):
                    self._db.execute(f"DELETE FROM {table} WHERE watchlist_id = ?", (w.id,))
                self._db.execute("DELETE FROM watchlists WHERE id = ?", (w.id,))
            self._cache = None
            return True

    # -- alerts ------------------------------------------------------------------------------
    def batch(self):
        """One transaction (one disk sync) around several writes: ``with store.batch(): ...``."""
        from contextlib import contextmanager

        @contextmanager
        def tx():
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")

        return tx()

    def add_alert(self, w: Watchlist, a: Alert) -> Alert | None:
        """Write the alert; None when this moment already alerted (same key, or inside an earlier
        alert's span of this watchlist and video)."""
        a.watchlist, a.watchlist_id, a.created = w.name, w.id, a.created or time.time()
        with self._lock:
            inside = self._db.execute(
                'SELECT 1 FROM alerts WHERE watchlist_id=? AND video_id=? AND start - 0.001 <= ? AND ? < "end" + 0.001',
                (w.id, a.video_id, a.timestamp, a.timestamp)).fetchone()
            if inside:
                return None
            try:
                cur = self._db.execute(
                    'INSERT INTO alerts (watchlist_id, key, video_id, path, start, "end", timestamp, score, confidence,'
                    ' thumbnail, wall_time, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
                    (w.id, a.key, a.video_id, a.path, a.start, a.end, a.timestamp, a.score, a.confidence, a.thumbnail,
                     a.wall_time, a.created))
            except sqlite3.IntegrityError:
                return None
            a.id = cur.lastrowid
        return a

    def alerts(self, *, watchlist: str | None = None, since: float | None = None, limit: int = 100) -> list[Alert]:
        sql = ("SELECT a.*, w.name AS watchlist FROM alerts a JOIN watchlists w ON w.id = a.watchlist_id WHERE 1=1")
        args: list = []
        if watchlist is not None:
            sql += " AND w.name = ?"
            args.append(watchlist)
        if since is not None:
            sql += " AND a.created >= ?"
            args.append(float(since))
        sql += " ORDER BY a.created DESC, a.id DESC LIMIT ?"
        args.append(int(limit))
        out = []
        for r in self._q(sql, args):
            d = dict(r)
            d.pop("key")
            out.append(Alert(**d))
        return out

    def alert(self, alert_id: int) -> Alert | None:
        rows = self._q("SELECT a.*, w.name AS watchlist FROM alerts a JOIN watchlists w ON w.id = a.watchlist_id"
                       " WHERE a.id = ?", (int(alert_id),))
        if not rows:
            return None
        d = dict(rows[0])
        d.pop("key")
        return Alert(**d)

    # -- marks -------------------------------------------------------------------------------
    def mark(self, w: Watchlist, *, video_id: str, start: float, end: float, timestamp: float, score: float,
             right: bool) -> None:
        with self._lock:
            self._db.execute(
                'INSERT INTO marks (watchlist_id, video_id, start, "end", timestamp, score, right, created)'
                ' VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (watchlist_id, video_id, start, "end") DO UPDATE SET'
                ' right = excluded.right, score = excluded.score, created = excluded.created',
                (w.id, video_id, float(start), float(end), float(timestamp), float(score), int(bool(right)),
                 time.time()))

    def marks(self, w: Watchlist) -> list[dict]:
        return [dict(r) for r in self._q('SELECT video_id, start, "end", timestamp, score, right FROM marks'
                                         ' WHERE watchlist_id = ? ORDER BY id', (w.id,))]

    # -- deliveries (the webhook queue) --------------------------------------------------------
    def enqueue(self, w: Watchlist, alert: Alert, body: dict) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO deliveries (alert_id, watchlist_id, url, body, idempotency_key, next_at)"
                " VALUES (?,?,?,?,?,?)",
                (alert.id, w.id, w.webhook, json.dumps(body), f"vidsearch-alert-{alert.key}", time.time()))

    def due(self, now: float, limit: int = 20) -> list[dict]:
        return [dict(r) for r in self._q("SELECT * FROM deliveries WHERE status = 'pending' AND next_at <= ?"
                                         " ORDER BY next_at LIMIT ?", (now, limit))]

    def next_due(self) -> float | None:
        rows = self._q("SELECT MIN(next_at) FROM deliveries WHERE status = 'pending'")
        return rows[0][0] if rows else None

    def delivered(self, delivery_id: int) -> None:
        with self._lock:
            self._db.execute("UPDATE deliveries SET status='delivered', attempts=attempts+1, delivered_at=?,"
                             " last_error=NULL WHERE id=?", (time.time(), delivery_id))

    def retry(self, delivery_id: int, error: str, next_at: float | None) -> None:
        """A failed attempt: try again at ``next_at``, or give up (``failed``) when None."""
        with self._lock:
            self._db.execute("UPDATE deliveries SET attempts=attempts+1, last_error=?, next_at=COALESCE(?, next_at),"
                             " status=? WHERE id=?",
                             (error[:500], next_at, "pending" if next_at is not None else "failed", delivery_id))

    def delivery_state(self, w: Watchlist) -> dict:
        """What the watchlist's webhook did: counts by status, failed attempts, the last error."""
        rows = self._q("SELECT status, COUNT(*), SUM(attempts) FROM deliveries WHERE watchlist_id=? GROUP BY status",
                       (w.id,))
        counts = {r[0]: r[1] for r in rows}
        attempts = sum(r[2] or 0 for r in rows)
        last = self._q("SELECT last_error FROM deliveries WHERE watchlist_id=? AND last_error IS NOT NULL"
                       " ORDER BY id DESC LIMIT 1", (w.id,))
        return {"delivered": counts.get("delivered", 0), "pending": counts.get("pending", 0),
                "failed": counts.get("failed", 0), "attempts": attempts,
                "last_error": last[0][0] if last else None}
