"""The videos resource: add (upload or server path), list, get, delete, stream, segment thumbnails.

``POST /api/v1/videos`` never indexes in the request: it stores or checks the file, queues a job
(:mod:`web.jobs`) and answers 202 ``{"video_id", "job_id"}`` (a folder: ``{"jobs": [...]}``).
"""
from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, url_for

from vidsearch.diskspace import LowDiskSpace, check_free_space
from vidsearch.media import MediaError
from web.access import library
from web.api.schemas import shown_path, video_json
from web.auth import local_client, write_endpoint
from web.errors import ApiError
from web.files import open_data_file, open_indexed, send_opened
from web.jobs import JobQueue, VideoBusy
from web.paths import check_path, files_under
from web.uploads import (UPLOAD_DIR_KEY, HashingFile, check_video, free_bytes, is_upload, keep_upload, remove_upload,
                         safe_name)

JOBS_KEY = "vidsearch.jobs"
MAX_JSON_BYTES = 1 << 20


def jobs() -> JobQueue:
    return current_app.extensions[JOBS_KEY]


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


@bp.post("")
@write_endpoint
def add_videos():
    if request.mimetype == "multipart/form-data":
        return _add_upload()
    if request.is_json:
        return _add_path()
    raise ApiError(415, "unsupported_media_type",
                   "send the video as multipart/form-data in the field 'file', or JSON {\"path\": \"/server/path\"}")


def _accepted(body: dict, job_id: str | None = None):
    response = jsonify(body)
    response.status_code = 202
    if job_id is not None:
        response.headers["Location"] = url_for("api.jobs.get_job", job_id=job_id)
    return response


def _add_upload():
    settings = library().settings
    uploads = settings.uploads_dir
    uploads.mkdir(parents=True, exist_ok=True)
    request.max_content_length = current_app.config["VIDSEARCH_MAX_UPLOAD"]
    reserve = int(settings.min_free_mb * 2**20)
    insufficient = ApiError(507, "insufficient_storage",
                            f"not enough free disk space for this upload (the server keeps {settings.min_free_mb:g} MiB free)")
    if free_bytes(uploads) - (request.content_length or 0) < reserve:
        raise insufficient
    request.environ[UPLOAD_DIR_KEY] = str(uploads)
    upload = request.files.get("file")  # the body is parsed (and hashed) here; over the limit: 413
    if upload is None or not upload.filename:
        raise ApiError(400, "no_file", "no video: send it in the multipart field 'file'")
    part = upload.stream
    if not isinstance(part, HashingFile):  # cannot happen with UploadRequest; never index unhashed bytes
        raise ApiError(500, "internal_error", "the upload was not stored")
    if free_bytes(uploads) < reserve:
        raise insufficient
    name = safe_name(upload.filename)
    path = keep_upload(part, uploads, upload.filename)
    try:
        check_video(path, name)  # a quick look (container, first frame): refuse what is not a video now
    except MediaError as exc:
        remove_upload(path, uploads)
        raise ApiError(415, "unsupported_media_type", f"{name}: {exc.reason}") from None
    job = jobs().submit(path, video_id=part.hexdigest(), upload=True)
    return _accepted({"video_id": job.video_id, "job_id": job.id}, job.id)


def _add_path():
    request.max_content_length = MAX_JSON_BYTES
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "path" not in body:
        raise ApiError(400, "bad_request", 'send JSON {"path": "/absolute/path/on/the/server"}')
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise ApiError(400, "bad_request", "'force' must be true or false")
    settings = library().settings
    roots = settings.allowed_roots
    trusted = local_client()
    path = check_path(body["path"], roots, trusted=trusted)
    try:  # the index is written into the data folder: refuse now rather than fail each job
        check_free_space(settings.data_dir, settings.min_free_mb)
    except LowDiskSpace as exc:
        raise ApiError(507, "insufficient_storage", f"cannot index now: {exc}") from None
    if not path.is_dir():
        job = jobs().submit(path, force=force)
        return _accepted({"video_id": job.video_id, "job_id": job.id}, job.id)
    files, refused = files_under(path, roots, trusted=trusted)
    if not files:
        raise ApiError(400, "no_videos", f"no video files found under {shown_path(str(path))}"
                       + (f" ({len(refused)} link(s) leading outside the allowed roots were skipped)" if refused else ""))
    queued = [jobs().submit(f, force=force) for f in files]
    return _accepted({"jobs": [{"video_id": j.video_id, "job_id": j.id, "path": shown_path(j.path)} for j in queued],
                      "refused": [shown_path(r) for r in refused]})


@bp.delete("/<video_id>")
@write_endpoint
def delete_video(video_id: str):
    def delete():
        with library().use() as lib:
            return lib.video(video_id), lib.delete(video_id)

    try:  # every queued job of the video is cancelled (and its upload removed) first
        rec, deleted = jobs().cancel_video(video_id, "cancelled: the video was deleted", then=delete)
    except VideoBusy:
        raise ApiError(409, "video_busy", f"video {video_id!r} is being indexed; delete it when its job is done") from None
    if not deleted:
        raise ApiError(404, "video_not_found", f"no video with id {video_id!r}")
    uploads = library().settings.uploads_dir
    if rec is not None and is_upload(rec.path, uploads):
        remove_upload(rec.path, uploads)  # an uploaded file belongs to the server; a server path does not
    return jsonify({"deleted": video_id})


@bp.get("/<video_id>/stream")
def stream(video_id: str):
    """The indexed file itself, opened by :func:`web.files.open_indexed` (404 gone, 409 no longer the
    indexed file) and sent from that open file with Range requests (206, 416) so that browsers can
    seek; the path comes from the catalog, never from the request."""
    rec = _record(video_id)
    opened = open_indexed(rec, library().settings, shown=shown_path(rec.path))
    return send_opened(opened, mimetype=stream_type(Path(rec.path)), max_age=0)


def stream_type(path: Path) -> str:
    """The file's video type by its extension; ``application/octet-stream`` when unknown (players
    sniff the content)."""
    guessed = mimetypes.guess_type(path.name)[0] or ""
    return guessed if guessed.startswith("video/") or guessed == "image/gif" else "application/octet-stream"


@bp.get("/<video_id>/segments/<int:index>/thumbnail")
def segment_thumbnail(video_id: str, index: int):
    _record(video_id)  # unknown ids are 404 even when a stray folder exists
    opened = open_data_file(library().settings.thumbnails_dir, video_id, f"{index:05d}.jpg")  # links refused
    if opened is None:
        raise ApiError(404, "thumbnail_not_found", f"video {video_id!r} has no thumbnail for segment {index}")
    return send_opened(opened, mimetype="image/jpeg", max_age=3600)
