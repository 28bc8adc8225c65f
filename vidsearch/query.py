"""A query's bounds as people write them: video times, wall-clock date-times, regions of a picture.

One definition for the CLI's arguments and the API's fields (``vidsearch search --after 1:30``
and ``-F after=1:30`` mean the same); a bad value raises ``argparse.ArgumentTypeError`` with a
message for a person, which the API turns into a 400.
"""
from __future__ import annotations

import argparse


def parse_time(text: str) -> float:
    """Seconds (``90``, ``90.5``) or ``[HH:]MM:SS[.fff]`` in video time."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not seconds or HH:MM:SS") from None
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not seconds or HH:MM:SS")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


class WallTime(float):
    """A wall-clock bound: seconds since the epoch (``--after 2024-05-01T10:00``)."""


def parse_when(text: str) -> float:
    """Video time (:func:`parse_time`), or an ISO-8601 date-time (``2024-05-01T10:00[:00][+02:00]``;
    without a zone: local time) as :class:`WallTime`, for recordings whose start is known."""
    if "-" in text.strip()[1:]:
        import datetime as _dt

        try:
            return WallTime(_dt.datetime.fromisoformat(text.strip()).timestamp())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not seconds, HH:MM:SS or a date-time "
                                             f"(YYYY-MM-DDTHH:MM[:SS])") from None
    return parse_time(text)


def parse_region(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not x,y,w,h in pixels") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be positive, x and y not negative")
    return x, y, w, h


def parse_clock(text: str) -> float:
    """``HH:MM[:SS]`` on a 24-hour clock -> seconds since midnight (``24:00`` is the end of the day)."""
    parts = text.strip().split(":")
    try:
        if not 2 <= len(parts) <= 3 or not all(p.strip().isdigit() for p in parts):
            raise ValueError
        h, m, s = (int(p) for p in parts + ["0"] * (3 - len(parts)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day (HH:MM)") from None
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day between 00:00 and 24:00")
    return float(h * 3600 + m * 60 + s)


def parse_time_of_day(text: str) -> tuple[float, float]:
    """``HH:MM-HH:MM``: a window of the day, as seconds since midnight ``(from, to)``; ``to`` before
    ``from`` wraps midnight (``22:00-06:00``: from ten at night to six in the morning)."""
    parts = text.strip().split("-")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day window (HH:MM-HH:MM, e.g. 22:00-06:00)")
    start, end = parse_clock(parts[0]), parse_clock(parts[1])
    if start == end:
        raise argparse.ArgumentTypeError(f"{text!r}: the window is empty (from and to are the same time)")
    return start, end
