"""Deterministic point ids: the same frame or segment of the same video always gets the same id,
so that indexing a video again overwrites its points instead of adding copies.

Qdrant accepts unsigned integers or UUIDs as point ids; these are UUID strings (version 5, SHA-1
over a fixed namespace), so they never collide across videos and need no counter.
"""
from __future__ import annotations

import uuid

# Fixed for ever: changing it would orphan every point already stored.
NAMESPACE = uuid.UUID("5d0c8a3e-7b51-4c1e-9a57-0f1e6b2d9c40")


def _millis(timestamp: float) -> int:
    ms = int(round(float(timestamp) * 1000.0))
    return 0 if ms == 0 else ms  # -0.0 and 0.0 are the same frame


def frame_point_id(video_id: str, timestamp: float) -> str:
    """Id of the frame of ``video_id`` at ``timestamp`` seconds (rounded to milliseconds)."""
    return str(uuid.uuid5(NAMESPACE, f"frame\x1f{video_id}\x1f{_millis(timestamp)}"))


def segment_point_id(video_id: str, index: int) -> str:
    """Id of segment number ``index`` of ``video_id``."""
    return str(uuid.uuid5(NAMESPACE, f"segment\x1f{video_id}\x1f{int(index)}"))
