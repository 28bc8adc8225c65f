"""The search resource: ``POST /api/v1/search`` with a still image.

multipart/form-data fields (the same meaning and formats as ``vidsearch search``):

| field | required | meaning |
|---|---|---|
| image | yes | the query picture (JPEG, PNG, WebP, ...) |
| limit | no | most moments to return, 1..100 (default 10) |
| video_id | no | search only this video |
| after, before | no | only moments inside this span of video time: seconds or [HH:]MM:SS |
| region | no | ``x,y,w,h`` in pixels of the image: search only that part of it |

Searching by text or by a clip is not supported yet and answers 400 ``not_supported``.
"""
from __future__ import annotations

import argparse

from flask import Blueprint, jsonify, request

from vidsearch.cli import parse_region, parse_time
from vidsearch.media.errors import MediaError
from vidsearch.media.image import load_image
from web.access import library
from web.api.schemas import moment_json
from web.errors import ApiError

bp = Blueprint("search", __name__, url_prefix="/search")

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_NOT_YET = "search by {} is not supported yet; upload a still image in the multipart field 'image'"


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
        for kind in ("text", "clip"):
            if isinstance(body, dict) and kind in body:
                raise _bad("not_supported", _NOT_YET.format(kind))
        raise _bad("bad_request", "send multipart/form-data with the query picture in the field 'image'")
    for kind in ("text", "clip"):
        if kind in request.form or kind in request.files:
            raise _bad("not_supported", _NOT_YET.format(kind))


@bp.post("")
def search():
    _refuse_unsupported()
    upload = request.files.get("image")  # reading the body may raise 413 (MAX_CONTENT_LENGTH)
    if upload is None or not upload.filename:
        raise _bad("no_image", "no query picture: send it in the multipart field 'image'")
    limit = _limit(request.form.get("limit"))
    video_id = (request.form.get("video_id") or "").strip() or None
    after = _optional("after", parse_time, "bad_time")
    before = _optional("before", parse_time, "bad_time")
    if after is not None and before is not None and after > before:
        raise _bad("bad_time", f"after ({after:g} s) is later than before ({before:g} s)")
    region = _optional("region", parse_region, "bad_region")

    try:  # decoding the picture needs no lock
        image = load_image(upload.stream, name=upload.filename)
    except MediaError as exc:
        raise ApiError(415, "unsupported_media_type", str(exc)) from None

    with library().use() as lib:
        if video_id is not None and lib.video(video_id) is None:
            raise ApiError(404, "video_not_found", f"no video with id {video_id!r}")
        try:
            moments = lib.search_image(image, limit=limit, video_id=video_id, after=after, before=before,
                                       region=region)
        except ValueError as exc:  # e.g. a region outside the picture
            raise _bad("bad_region" if region is not None else "bad_request", str(exc)) from None
    return jsonify({"results": [moment_json(m) for m in moments]})
