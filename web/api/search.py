"""The search resource: ``POST /api/v1/search`` with a still image or a video clip.

multipart/form-data fields (the same meaning and formats as ``vidsearch search``):

| field | required | meaning |
|---|---|---|
| image or clip | one of them | the query picture (JPEG, PNG, WebP, ...) or a video clip |
| limit | no | most moments to return, 1..100 (default 10) |
| video_id | no | search only this video |
| after, before | no | only moments inside this span of video time: seconds or [HH:]MM:SS |
| region | no | ``x,y,w,h`` in pixels of the image: search only that part of it (images only) |

A clip's moments also carry ``query_start``/``query_end`` (where in the clip). Searching by text is
not supported yet and answers 400 ``not_supported``.

``POST /api/v1/dedup`` (multipart ``clip``) answers ``{"matches": [...]}``: the confident copies of
the clip's footage in the archive (``vidsearch dedup --clip --json``), empty when there are none.
Query files are written to hidden temporary files in the upload folder and removed with the request.
"""
from __future__ import annotations

import argparse

from flask import Blueprint, current_app, jsonify, request

from vidsearch.cli import parse_region, parse_time
from vidsearch.media.errors import MediaError
from vidsearch.media.image import load_image
from web.access import library
from web.api.schemas import match_json, moment_json
from web.errors import ApiError
from web.uploads import UPLOAD_DIR_KEY, HashingFile, check_video, safe_name

bp = Blueprint("search", __name__, url_prefix="/search")


dedup_bp = Blueprint("dedup", __name__, url_prefix="/dedup")


def _query_upload() -> None:
    """Before any body is read: the query limit (over it: JSON 413), files to the upload folder."""
    request.max_content_length = current_app.config["VIDSEARCH_MAX_QUERY"]
    folder = library().settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    request.environ[UPLOAD_DIR_KEY] = str(folder)


bp.before_request(_query_upload)
dedup_bp.before_request(_query_upload)

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_NOT_YET = "search by {} is not supported yet; upload a picture in the field 'image' or a video in 'clip'"


def _bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def _limit(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise _bad("bad_limit", f"limit must be a whole number, not {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise _bad("bad_limit", f"limit must be between 1 and {MAX_LIMIT}, not {value}")
    return value


def _optional(name: str, parse, code: str):
    raw = request.form.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse(raw.strip())
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise _bad(code, f"{name}: {exc}") from None


def _refuse_unsupported() -> None:
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and "text" in body:
            raise _bad("not_supported", _NOT_YET.format("text"))
        raise _bad("bad_request", "send multipart/form-data with the query in the field 'image' or 'clip'")
    if "text" in request.form:
        raise _bad("not_supported", _NOT_YET.format("text"))


def _clip_path(upload) -> str:
    part = upload.stream
    if not isinstance(part, HashingFile):  # cannot happen with UploadRequest
        raise ApiError(500, "internal_error", "the clip was not stored")
    part.flush()
    if part.size == 0:
        raise ApiError(415, "unsupported_media_type", f"{safe_name(upload.filename)}: empty file")
    return part.name


def _media_error(upload, exc: MediaError) -> ApiError:
    return ApiError(415, "unsupported_media_type", f"{safe_name(upload.filename)}: {exc.reason}")


@bp.post("")
def search():
    _refuse_unsupported()
    image = request.files.get("image")  # reading the body may raise 413 (the query limit)
    clip = request.files.get("clip")
    if image is not None and image.filename and clip is not None and clip.filename:
        raise _bad("bad_request", "send either 'image' or 'clip', not both")
    if (image is None or not image.filename) and (clip is None or not clip.filename):
        raise _bad("no_image", "no query: send a picture in the multipart field 'image' or a video in 'clip'")
    limit = _limit(request.form.get("limit"))
    video_id = (request.form.get("video_id") or "").strip() or None
    after = _optional("after", parse_time, "bad_time")
    before = _optional("before", parse_time, "bad_time")
    if after is not None and before is not None and after > before:
        raise _bad("bad_time", f"after ({after:g} s) is later than before ({before:g} s)")
    region = _optional("region", parse_region, "bad_region")
    if video_id is not None:
        with library().use() as lib:
            if lib.video(video_id) is None:
                raise ApiError(404, "video_not_found", f"no video with id {video_id!r}")
    if clip is not None and clip.filename:
        if region is not None:
            raise _bad("bad_region", "region applies to image queries only")
        moments = _search_clip(clip, limit=limit, video_id=video_id, after=after, before=before)
        return jsonify({"results": [moment_json(m) for m in moments]})

    try:  # decoding the picture needs no lock; without a region, a JPEG only needs the frame size
        shrink = library().settings.frame_size if region is None else None
        picture = load_image(image.stream, name=image.filename, min_short_side=shrink)
    except MediaError as exc:
        raise ApiError(415, "unsupported_media_type", str(exc)) from None
    try:  # the embedding runs outside the library lock; store and catalog calls take it
        moments = library().concurrent().search_image(picture, limit=limit, video_id=video_id, after=after,
                                                      before=before, region=region)
    except ValueError as exc:  # e.g. a region outside the picture
        raise _bad("bad_region" if region is not None else "bad_request", str(exc)) from None
    return jsonify({"results": [moment_json(m) for m in moments]})


def _search_clip(upload, *, limit, video_id, after, before) -> list:
    """As ``vidsearch search --clip``: rank many alignments, then filter, then cut to ``limit``.
    Decoding and embedding the clip run outside the library lock (:meth:`SerialLibrary.concurrent`)."""
    path = _clip_path(upload)
    try:
        check_video(path, safe_name(upload.filename))
        moments = library().concurrent().search_clip(path, limit=max(limit * 10, 100))
    except MediaError as exc:
        raise _media_error(upload, exc) from None
    moments = [m for m in moments if (video_id is None or m.video_id == video_id)
               and (after is None or m.end >= after) and (before is None or m.start <= before)]
    return moments[:limit]


@dedup_bp.post("")
def dedup():
    if request.mimetype != "multipart/form-data":
        raise _bad("bad_request", "send multipart/form-data with the clip in the field 'clip'")
    clip = request.files.get("clip")
    if clip is None or not clip.filename:
        raise _bad("no_clip", "no clip: send it in the multipart field 'clip'")
    path = _clip_path(clip)
    try:
        check_video(path, safe_name(clip.filename))
        matches = library().concurrent().dedup_clip(path)
    except MediaError as exc:
        raise _media_error(clip, exc) from None
    return jsonify({"matches": [match_json(m) for m in matches]})
