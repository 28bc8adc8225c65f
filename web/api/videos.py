"""The videos resource: add (upload or server path), list, get, delete, stream, segment thumbnails,
and export (a span as an MP4 clip, an instant as a JPEG).

``POST /api/v1/videos`` never indexes in the request: it stores or checks the file, queues a job
(:mod:`web.jobs`) and answers 202 ``{"video_id", "job_id"}`` (a folder: ``{"jobs": [...]}``).

``stream`` sends the file itself when browsers play it (vidsearch/media/playable.py), else its
browser-playable copy (vidsearch/copies.py), and while that is being made 202 ``{"status":
"preparing", "progress"}``. Every file that is read (to send, to cut, to copy) is the one
:func:`web.files.open_indexed` opened and checked; ffmpeg reads it as ``/dev/fd/N``.
"""
from __future__ import annotations

import mimetypes
import os
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_file, url_for

from vidsearch.diskspace import LowDiskSpace, check_free_space
from vidsearch.media import MediaError
from web.access import library
from web.api.schemas import shown_path, video_json
from web.api.shapes import ClipSpan, FrameAt, VideoPath, VideoUpload, given, spec
from web.auth import local_client, write_endpoint
from web.errors import ApiError
from web.files import Opened, open_data_file, open_indexed, send_opened
from web.jobs import JobQueue, VideoBusy
from web.paths import check_path, files_under
from web.uploads import (UPLOAD_DIR_KEY, HashingFile, check_video, free_bytes, is_upload, keep_upload, remove_upload,
                         safe_name)

JOBS_KEY = "vidsearch.jobs"
COPIES_KEY = "vidsearch.playable"
EXPORT_SLOTS_KEY = "vidsearch.export_slots"  # clips cut at once (CPU work)
_VERDICTS_KEY = "vidsearch.playability"  # video id -> (Streams, reason or None), read once per video
EXPORT_WAIT_S = 10.0
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


@bp.before_request
def _json_limit() -> None:
    if request.is_json:
        request.max_content_length = MAX_JSON_BYTES


@bp.post("")
@write_endpoint
@spec.validate(json=VideoPath, form=VideoUpload)
def add_videos():
    if request.mimetype == "multipart/form-data":
        return _add_upload()
    if given().json is not None:
        return _add_path(given().json)
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


def _add_path(body: VideoPath):
    force = body.force
    settings = library().settings
    roots = settings.allowed_roots
    trusted = local_client()
    path = check_path(body.path, roots, trusted=trusted)
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
    copies().remove(video_id)  # its playable copy (also stopped while being made)
    current_app.extensions.get(_VERDICTS_KEY, {}).pop(video_id, None)
    uploads = library().settings.uploads_dir
    if rec is not None and is_upload(rec.path, uploads):
        remove_upload(rec.path, uploads)  # an uploaded file belongs to the server; a server path does not
    return jsonify({"deleted": video_id})


@bp.get("/<video_id>/stream")
def stream(video_id: str):
    """The indexed file itself, opened by :func:`web.files.open_indexed` (404 gone, 409 no longer the
    indexed file) and sent from that open file with Range requests (206, 416) so that browsers can
    seek; the path comes from the catalog, never from the request. A file that browsers cannot play
    is answered by its playable copy (also with Range), or 202 while the copy is made."""
    rec = _record(video_id)
    settings = library().settings
    opened = open_indexed(rec, settings, shown=shown_path(rec.path))
    try:
        streams, why = _verdict(video_id, opened)
        if why is None:
            return send_opened(opened, mimetype=stream_type(Path(rec.path)), max_age=0)
        cache = copies()
        state = cache.state(video_id)
        if state.status == "ready":
            copy = open_data_file(settings.playable_dir, f"{video_id}.mp4")
            if copy is not None:
                cache.touch(video_id)
                opened.close()
                return send_opened(copy, mimetype="video/mp4", max_age=0)
            state = cache.state(video_id)
        if state.status == "absent":
            state = cache.ensure(video_id, os.dup(opened.file.fileno()), streams, float(rec.duration or 0.0))
    except BaseException:
        opened.close()
        raise
    opened.close()
    name = os.path.basename(shown_path(rec.path))
    if state.status == "failed":
        raise ApiError(422, "not_playable", f"{name} cannot be played in a browser ({why}) and no playable "
                                            f"copy could be made: {state.error}")
    percent = int(state.progress * 100)
    response = jsonify({"status": "preparing", "progress": round(state.progress, 3), "reason": why,
                        "message": f"preparing a playable copy… {percent}% ({why})"})
    response.status_code = 202
    response.headers["Retry-After"] = "1"
    response.headers["Cache-Control"] = "no-store"
    return response


def copies():
    return current_app.extensions[COPIES_KEY]


def prepare_playable(app, video_id: str) -> str:
    """After indexing (web/jobs.py): queue the playable copy of a video browsers cannot play, so that
    its first play need not wait; its state (``ready`` when the file plays as it is)."""
    with app.app_context():
        with library().use() as lib:
            rec = lib.video(video_id)
        if rec is None:
            return "absent"
        try:
            opened = open_indexed(rec, library().settings)
        except ApiError:
            return "absent"
        try:
            streams, why = _verdict(video_id, opened)
            if why is None:
                return "ready"
            return copies().ensure(video_id, os.dup(opened.file.fileno()), streams,
                                   float(rec.duration or 0.0)).status
        finally:
            opened.close()


def _verdict(video_id: str, opened: Opened):
    """(Streams, why browsers cannot play it, or None), read from the opened file once per video."""
    from vidsearch.media.playable import inspect, unplayable_reason

    known = current_app.extensions.setdefault(_VERDICTS_KEY, {})
    if video_id not in known:
        try:
            streams = inspect(f"/dev/fd/{opened.file.fileno()}")
        except MediaError:
            return None, None  # served as it is: the player says what it can
        known[video_id] = (streams, unplayable_reason(streams))
    return known[video_id]


# -- export: a span as a clip, an instant as a still ---------------------------------------------------
def _within(name: str, value: float, rec) -> None:
    duration = float(rec.duration or 0.0)
    if rec.status != "indexed" or duration <= 0:
        raise ApiError(409, "not_indexed", f"video {rec.id!r} is {rec.status}: export it once it is indexed")
    if value > duration + 1e-3:
        raise ApiError(400, f"bad_{name}", f"{name}: {value:g} s is past the end of the video ({duration:.3f} s)")


def _slot():
    slots = current_app.extensions[EXPORT_SLOTS_KEY]
    if not slots.acquire(timeout=EXPORT_WAIT_S):
        err = ApiError(503, "busy", "every export slot is busy: try again in a few seconds")
        err.headers["Retry-After"] = "5"
        raise err
    return slots


@bp.get("/<video_id>/clip")
@spec.validate(query=ClipSpan)
def export_clip_(video_id: str):
    """The span ``start``..``end`` as an MP4 (vidsearch/media/export.py: stream copy when the cut
    allows, else a transcode), as an attachment named after the video and the span."""
    from vidsearch.media.export import clip_file_name, export_clip

    rec = _record(video_id)
    start, end = given().query.start, given().query.end
    _within("start", start, rec)
    _within("end", end, rec)
    settings = library().settings
    if end - start > settings.max_export_s:
        raise ApiError(413, "span_too_long", f"the span is {end - start:g} s long; at most {settings.max_export_s:g} s "
                                             "are exported (VIDSEARCH_MAX_EXPORT_S)")
    end = min(end, float(rec.duration))
    try:
        check_free_space(settings.data_dir, settings.min_free_mb)
    except LowDiskSpace as exc:
        raise ApiError(507, "insufficient_storage", f"cannot export now: {exc}") from None
    from vidsearch.diskspace import free_bytes

    slots = _slot()
    try:
        opened = open_indexed(rec, settings, shown=shown_path(rec.path))
        folder = settings.exports_dir
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="clip-", suffix=".mp4", dir=folder)
        os.close(fd)
        try:
            room = free_bytes(folder) - int(settings.min_free_mb * 2**20)
            result = export_clip(opened.file.fileno(), start, end, tmp, max_bytes=max(room, 1))
            out = open(tmp, "rb")
        except MediaError as exc:
            raise ApiError(422, "export_failed", f"cannot export {start:g}-{end:g} s of video {video_id!r}: "
                                                 f"{exc.reason}") from None
        finally:
            opened.close()
            Path(tmp).unlink(missing_ok=True)  # the open file stays readable until it is sent
    finally:
        slots.release()
    name = clip_file_name(os.path.basename(rec.path), result.plan.start, end)
    response = send_file(out, mimetype="video/mp4", as_attachment=True, download_name=name, max_age=0)
    response.headers["X-Vidsearch-Export"] = result.plan.mode
    response.headers["X-Vidsearch-Clip-Start"] = f"{result.plan.start:.3f}"
    return response


@bp.get("/<video_id>/frame")
@spec.validate(query=FrameAt)
def export_frame(video_id: str):
    """The frame at ``t`` (the first at or after it) as a JPEG attachment, decoded exactly."""
    from vidsearch.media.export import frame_file_name, frame_jpeg

    rec = _record(video_id)
    t = given().query.t
    _within("t", t, rec)
    settings = library().settings
    slots = _slot()
    try:
        opened = open_indexed(rec, settings, shown=shown_path(rec.path))
        try:
            jpeg, stamp = frame_jpeg(f"/dev/fd/{opened.file.fileno()}", t)
        except MediaError as exc:
            raise ApiError(422, "export_failed", f"cannot export the frame at {t:g} s of video {video_id!r}: "
                                                 f"{exc.reason}") from None
        finally:
            opened.close()
    finally:
        slots.release()
    import io

    response = send_file(io.BytesIO(jpeg), mimetype="image/jpeg", as_attachment=True,
                         download_name=frame_file_name(os.path.basename(rec.path), stamp), max_age=0)
    response.headers["X-Vidsearch-Frame-Time"] = f"{stamp:.3f}"
    return response


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
