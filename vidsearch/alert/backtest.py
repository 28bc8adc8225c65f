"""Backtest a watchlist: what it would have alerted on over what is already indexed.

Every indexed video (optionally only those recorded, or else added, inside a time window) is
checked as a new one would be (:mod:`vidsearch.alert.evaluate`), nothing is written, and the
answer is ``{"matches": [...], "per_day": {"YYYY-MM-DD": n}}`` (the day of the moment's wall-clock
time where the recording's start is known, else of the day the video was indexed; UTC).
"""
from __future__ import annotations

import datetime as _dt

from vidsearch.alert.evaluate import VideoFrames, alerts_for, match_video, needed_vectors
from vidsearch.search.daytime import zone_of


def _day(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d")


def backtest(lib, w, *, after: float | None = None, before: float | None = None, limit: int = 1000) -> dict:
    """``after``/``before``: seconds since the epoch, bounds on the recording's start (or, when
    unknown, when the video was indexed)."""
    matches = []
    per_day: dict[str, int] = {}
    for rec in lib.catalog.list("indexed"):
        when = rec.wall_start if rec.wall_start is not None else (rec.indexed_at or rec.added_at)
        if (after is not None and when < after) or (before is not None and when > before):
            continue
        if w.camera is not None and rec.camera != w.camera:
            continue
        frames = VideoFrames(lib.store, rec.id, needed_vectors([w]))
        for a in alerts_for(w, match_video(w, frames, lib=lib), rec, zone_of(lib.settings.timezone)):
            d = a.to_dict()
            for k in ("id", "created", "watchlist_id"):
                d.pop(k)
            day = _day(a.wall_time if a.wall_time is not None else when)
            d["day"] = day
            per_day[day] = per_day.get(day, 0) + 1
            matches.append(d)
    matches.sort(key=lambda m: -m["score"])
    return {"watchlist": w.name, "threshold": w.threshold, "matches": matches[:limit],
            "total": len(matches), "per_day": dict(sorted(per_day.items()))}
