"""The videos resource: list, get, delete, stream, segment thumbnails."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify, send_file

from web.access import library
from web.api.schemas import video_json
from web.errors import ApiError

bp = Blueprint("videos", __name__, url_prefix="/videos")


def _record(video_id: str):
    with library().use() as lib:
        rec = lib.video(video_id)
    if rec is None:
        raise ApiError(404, "video_not_found", f"no video with id {video_id!r}")
    return rec


@bp.get("")
def list_videos():
    with library().use() as lib:
        records = lib.videos()
    return jsonify({"videos": [video_json(r) for r in records]})


@bp.get("/<video_id>")
def get_video(video_id: str):
    return jsonify(video_json(_record(video_id)))


@bp.delete("/<video_id>")
def delete_video(video_id: str):
    with library().use() as lib:
        deleted = lib.delete(video_id)
    if not deleted:
        raise ApiError(404, "video_not_found", f"no video with id {video_id!r}")
    return jsonify({"deleted": video_id})


@bp.get("/<video_id>/stream")
def stream(video_id: str):
    """The indexed file itself. ``conditional=True`` answers Range requests (206, 416) so that
    browsers can seek; the path comes from the catalog, never from the request."""
    path = Path(_record(video_id).path)
    if not path.is_file():
        raise ApiError(404, "file_missing", f"the file of video {video_id!r} is no longer on disk")
    return send_file(path, conditional=True, max_age=0)


@bp.get("/<video_id>/segments/<int:index>/thumbnail")
def segment_thumbnail(video_id: str, index: int):
    _record(video_id)  # unknown ids are 404 even when a stray folder exists
    root = library().settings.thumbnails_dir.resolve()
    path = (root / video_id / f"{index:05d}.jpg").resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ApiError(404, "thumbnail_not_found", f"video {video_id!r} has no thumbnail for segment {index}")
    return send_file(path, mimetype="image/jpeg", conditional=True, max_age=3600)
