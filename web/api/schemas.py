"""The JSON shapes of API v1, declared once.

A search result is exactly :meth:`vidsearch.records.Moment.to_dict` (what ``vidsearch search
--json`` prints) plus two URLs; a video is :meth:`vidsearch.catalog.VideoRecord.to_dict` plus its
stream URL. Keys are only ever added here, never renamed.
"""
from __future__ import annotations

from pathlib import Path

from flask import current_app, url_for


def thumbnail_index(thumbnail: str | None) -> int | None:
    """The segment index of a thumbnail path ``.../<video_id>/<index:05d>.jpg``."""
    if not thumbnail:
        return None
    stem = Path(thumbnail).stem
    return int(stem) if stem.isdigit() else None


def stream_url(video_id: str) -> str:
    return url_for("api.videos.stream", video_id=video_id)


def thumbnail_url(video_id: str, thumbnail: str | None) -> str | None:
    index = thumbnail_index(thumbnail)
    if index is None:
        return None
    return url_for("api.videos.segment_thumbnail", video_id=video_id, index=index)


def moment_json(moment) -> dict:
    out = moment.to_dict()
    out["thumbnail_url"] = thumbnail_url(moment.video_id, moment.thumbnail)
    out["stream_url"] = stream_url(moment.video_id)
    return out


def segment_thumbnail_at(video_id: str, t: float) -> str | None:
    """The thumbnail URL of the segment of ``video_id`` that contains time ``t`` (segment indexes
    are start times in milliseconds, so the folder listing is enough)."""
    folder = current_app.extensions["vidsearch.library"].settings.thumbnails_dir / video_id
    try:
        starts = sorted(int(p.stem) for p in folder.glob("*.jpg") if p.stem.isdigit())
    except OSError:
        return None
    if not starts:
        return None
    ms = t * 1000 + 1
    best = max((s for s in starts if s <= ms), default=starts[0])
    return url_for("api.videos.segment_thumbnail", video_id=video_id, index=best)


def match_json(match) -> dict:
    """A dedup match (:meth:`vidsearch.records.Match.to_dict`, the CLI's shape) plus the
    reference's stream URL and the thumbnail of the reference segment where the copy starts."""
    out = match.to_dict()
    out["ref_thumbnail_url"] = segment_thumbnail_at(match.video_id, match.ref_start)
    out["stream_url"] = stream_url(match.video_id)
    return out


def video_json(record) -> dict:
    out = record.to_dict()
    out["stream_url"] = stream_url(record.id)
    return out
