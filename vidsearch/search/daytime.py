"""A time of day on every day ("between 22:00 and 06:00"), as spans of wall-clock time.

Frames carry ``wall_time`` (seconds since the epoch) when their recording's start is known. A
time-of-day window becomes, at query time, one ``wall_time`` span per local day that a recording
covers (the day before too, for a window that wraps midnight), which the store takes as a payload
filter (``wall_ranges``): no extra payload field, nothing to backfill, and a change of
VIDSEARCH_TIMEZONE applies at once. Days are local days of ``zone`` (None: the server's own zone,
daylight saving included). docs/benchmarks.md "Time-of-day filter" has the cost per span.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable
from zoneinfo import ZoneInfo

DAY = dt.timedelta(days=1)


def _local(ts: float, zone) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, zone) if zone is not None else dt.datetime.fromtimestamp(ts)


def seconds_of_day(ts: float, zone=None) -> float:
    """Seconds since local midnight of ``zone`` (None: the server's zone) at epoch time ``ts``."""
    t = _local(ts, zone)
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _at(day: dt.date, seconds: float, zone) -> float:
    """The epoch time of ``seconds`` after local midnight of ``day`` (as a wall clock reads it: on
    a daylight-saving day, 03:00 is 3 clock hours after midnight)."""
    base = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
    return (base.replace(tzinfo=zone) if zone is not None else base).timestamp()


def zone_of(name: str | None):
    """A ZoneInfo for the VIDSEARCH_TIMEZONE name; None (the server's local zone) when unset."""
    return ZoneInfo(name) if name else None


def wall_ranges(window: tuple[float, float], spans: Iterable[tuple[float, float]], zone=None,
                *, after: float | None = None, before: float | None = None) -> list[tuple[float, float]]:
    """``window`` (seconds since local midnight, from and to; ``to < from`` wraps midnight) on every
    local day of the recordings' ``spans`` (wall-clock start and end, epoch seconds), as sorted,
    disjoint ``(from, to)`` epoch spans that overlap a recording, cut to ``after``/``before``."""
    start, end = window
    spans = [(a, b) for a, b in spans if b >= a]
    days: set[dt.date] = set()
    for a, b in spans:
        first, last = _local(a, zone).date(), _local(b, zone).date()
        day = first - DAY  # a window that wraps midnight starts the evening before
        while day <= last:
            days.add(day)
            day += DAY
    out: list[tuple[float, float]] = []
    for day in sorted(days):
        lo = _at(day, start, zone)
        hi = _at(day + DAY, end, zone) if end <= start else _at(day, end, zone)
        if after is not None:
            lo = max(lo, after)
        if before is not None:
            hi = min(hi, before)
        if hi < lo or not any(a <= hi and b >= lo for a, b in spans):
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
