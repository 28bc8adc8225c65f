"""The JSON answers of API v1, built from the records (their models: :mod:`web.api.shapes`).

A search result is exactly :meth:`vidsearch.records.Moment.to_dict` (what ``vidsearch search
--json`` prints) plus two URLs; a video is :meth:`vidsearch.catalog.VideoRecord.to_dict` plus its
stream URL. Keys are only ever added here, never renamed.

Server paths (``path``, ``query_path``, ``thumbnail``, a job's ``path`` and the paths inside its
errors) pass through :func:`shown_path`, here only: absolute for a trusted caller (the local CLI's
token, the API key when one is configured), otherwise without the server's folders
(:func:`web.paths.public_path`).
"""
from __future__ import annotations

from pathlib import Path

from flask import current_app, url_for

from web.auth import trusted_caller
from web.paths import public_path


def _settings():
    return current_app.extensions["vidsearch.library"].settings


def shown_path(path: str | None, *, trusted: bool | None = None) -> str | None:
    """``path`` as this request's caller may see it (module notes)."""
    if not path:
        return path
    if trusted if trusted is not None else trusted_caller():
        return path
    s = _settings()
    return public_path(path, s.allowed_roots, data_dir=s.data_dir, uploads_dir=s.uploads_dir)


def _shown_in(text: str | None, paths, trusted: bool) -> str | None:
    """``text`` (an error message) with each of ``paths`` in it shown as :func:`shown_path` shows it."""
    if not text or trusted:
        return text
    for p in sorted({p for p in paths if p}, key=len, reverse=True):
        text = text.replace(p, shown_path(p, trusted=False))
    return text


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


def served_json(record) -> dict:
    """``record.to_dict()`` of something in one video (a moment, an alert), its paths shown as the
    caller may see them, with the URLs of its thumbnail and stream."""
    out = record.to_dict()
    trusted = trusted_caller()
    out["path"] = shown_path(out["path"], trusted=trusted)
    out["thumbnail"] = shown_path(out["thumbnail"], trusted=trusted)
    out["thumbnail_url"] = thumbnail_url(record.video_id, record.thumbnail)
    out["stream_url"] = stream_url(record.video_id)
    return out


def moment_json(moment) -> dict:
    return served_json(moment)


def segment_thumbnail_at(video_id: str, t: float) -> str | None:
    """The thumbnail URL of the segment of ``video_id`` that contains time ``t`` (segment indexes
    are start times in milliseconds, so the folder listing is enough)."""
    folder = _settings().thumbnails_dir / video_id
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
    trusted = trusted_caller()
    out["path"] = shown_path(out["path"], trusted=trusted)
    if "query_path" in out:
        out["query_path"] = shown_path(out["query_path"], trusted=trusted)
    out["ref_thumbnail_url"] = segment_thumbnail_at(match.video_id, match.ref_start)
    out["stream_url"] = stream_url(match.video_id)
    return out


def video_json(record) -> dict:
    out = record.to_dict()
    trusted = trusted_caller()
    out["path"] = shown_path(record.path, trusted=trusted)
    out["error"] = _shown_in(record.error, [record.path], trusted)
    out["stream_url"] = stream_url(record.id)
    return out


def job_json(job) -> dict:
    """A job (:meth:`web.jobs.Job.to_dict`) with its paths shown as :func:`shown_path` shows them."""
    out = job.to_dict()
    trusted = trusted_caller()
    if trusted:
        return out
    paths = [job.path] + ([out["result"].get("path")] if out["result"] else [])
    out["path"] = shown_path(job.path, trusted=False)
    out["error"] = _shown_in(out["error"], paths, False)
    if out["result"]:
        result = dict(out["result"])
        result["path"] = shown_path(result.get("path"), trusted=False)
        result["error"] = _shown_in(result.get("error"), paths, False)
        out["result"] = result
    return out
