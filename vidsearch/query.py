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
