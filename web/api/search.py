"""The search resource: ``POST /api/v1/search`` with free text, a still image, a video clip or a
stored moment (find similar), and ``GET /api/v1/search`` with text or find similar in the query
string (the same fields and parsing as the form; links, curl, the search page's URL state).

multipart/form-data fields (the same meaning and formats as ``vidsearch search``):

| field | required | meaning |
|---|---|---|
| text, image or clip | exactly one | free text ("EXIT sign", "red car"), the query picture (JPEG, PNG, WebP, ...) or a video clip |
| limit | no | most moments to return, 1..100 (default 10) |
| video_id | no | search only this video |
| after, before | no | only moments inside this span of video time: seconds or [HH:]MM:SS; or a wall-clock date-time (``YYYY-MM-DDTHH:MM[:SS][+zone]``) for recordings whose start is known |
| camera | no | only recordings of this camera |
| time_of_day | no | ``HH:MM-HH:MM``: only moments recorded at this time of day on any day (``22:00-06:00`` wraps midnight), in VIDSEARCH_TIMEZONE |
| like_video, like_t / like_start, like_end | instead of a query | find similar: the stored frame at ``like_t`` of that video (its stored copy descriptor, as an image query), or its stored span (its frames as a clip query); nothing is decoded |
| region | no | ``x,y,w,h`` in pixels of the image: search only that part of it (images only) |
| offset | no | skip this many results (the next page starts at the answer's ``next_offset``), 0..1000 |
| sort | no | ``score`` (default, best first) or ``time`` (wall-clock time where known, else video then time) |
| include_weak | no | ``true``: also the results below the no-match floor, marked ``"confidence": "weak"`` |

The answer is ``{"results": [...], "weak": N, "next_offset": K|null}``: ``weak`` counts the results
left below the floor (:mod:`vidsearch.search.confidence`); each result has ``confidence`` ("same
footage", "similar" or "weak") and ``why`` in plain words. A text query may also be sent as JSON:
``{"text": ..., "limit": ..., "video_id": ..., "camera": ..., "after": ..., "before": ..., "time_of_day": ...,
"offset": ..., "sort": ..., "include_weak": ...}``, and find similar as ``{"like": {"video_id": ..., "t": s}}`` or
``{"like": {"video_id": ..., "start": s, "end": s}}`` with the same fields, where ``after``/``before`` are seconds (a number) or a string as above. Times are
parsed by :func:`vidsearch.query.parse_time` / :func:`vidsearch.query.parse_when`, the CLI's own
definitions. A clip's moments also carry ``query_start``/``query_end`` (where in the clip); a text
query's moments carry ``why`` (the signals that matched).

``POST /api/v1/dedup`` (multipart ``clip``) answers ``{"matches": [...]}``: the confident copies of
the clip's footage in the archive (``vidsearch dedup --clip --json``), empty when there are none.
Query files are written to hidden temporary files in the upload folder and removed with the request.
"""
from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, current_app, jsonify, request

from vidsearch.query import WallTime
from vidsearch.media.errors import MediaError, TooLarge
from vidsearch.media.image import load_image
from web.access import library
from web.api.schemas import match_json, moment_json
from web.api.shapes import Dedup, SearchArgs, SearchForm, SearchJson, given, spec
from web.errors import ApiError
from web import query_images
from web.uploads import UPLOAD_DIR_KEY, HashingFile, check_video, safe_name

bp = Blueprint("search", __name__, url_prefix="/search")


dedup_bp = Blueprint("dedup", __name__, url_prefix="/dedup")


def _query_upload() -> None:
    """Before any body is read: the query limit (over it: JSON 413), files to the upload folder."""
    request.max_content_length = current_app.config["VIDSEARCH_MAX_QUERY"]
    folder = library().settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    request.environ[UPLOAD_DIR_KEY] = str(folder)
    if request.is_json:
        request.max_content_length = MAX_JSON_BYTES


bp.before_request(_query_upload)
dedup_bp.before_request(_query_upload)

MAX_JSON_BYTES = 64 * 1024
# A query picture waits this long for one of the VIDSEARCH_IMAGE_DECODES decode slots, then 503: a
# decode takes at most a few seconds (docs/benchmarks.md "Query image bounds"), so a burst queues
# and a flood is told to come back instead of holding every server thread.
IMAGE_SLOT_WAIT_S = 10.0
IMAGE_RETRY_AFTER_S = 5
IMAGE_SLOTS_KEY = "vidsearch.image_slots"  # app.extensions: a semaphore of VIDSEARCH_IMAGE_DECODES slots


def _bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def _answer(moments, **extra):
    return jsonify({"results": [moment_json(m) for m in moments], "weak": getattr(moments, "weak", 0),
                    "next_offset": getattr(moments, "next_offset", None), **extra})


def _check_video(video_id: str | None, what: str = "video_id") -> None:
    if video_id is not None:
        with library().use() as lib:
            if lib.video(video_id) is None:
                raise ApiError(404, "video_not_found", f"{what}: no video with id {video_id!r}")


def _scope(f: dict) -> dict:
    """``limit``, ``video_id``, video-time ``after``/``before``, ``where`` (the store's payload
    filters) and the page (:meth:`web.api.shapes.Page.scope`), as the library's search methods take them."""
    _check_video(f["video_id"])
    after, before = f["after"], f["before"]
    walls = {f"wall_{n}": float(v) for n, v in (("after", after), ("before", before)) if isinstance(v, WallTime)}
    where = library().concurrent().where(camera=f["camera"], time_of_day=f["time_of_day"], **walls)
    return {"limit": f["limit"], "video_id": f["video_id"], "where": where,
            "after": None if isinstance(after, WallTime) else after,
            "before": None if isinstance(before, WallTime) else before, **f["page"]}


def _search_text(text: str, f: dict):
    """As ``vidsearch search --text``: a date-time bound filters on wall-clock time, seconds on video time."""
    scope = _scope(f)
    try:  # encoding the query runs outside the library lock; store and catalog calls take it
        moments = library().concurrent().search_text(text, **scope)
    except ValueError as exc:  # e.g. a query without words
        raise _bad("bad_text", str(exc)) from None
    return _answer(moments)


def _search_like(like: dict, f: dict):
    """Find similar (:meth:`vidsearch.library.Library.search_like`): nothing is decoded."""
    _check_video(like["video_id"], "like")
    scope = _scope(f)
    scope["in_video"] = scope.pop("video_id")
    try:
        moments = library().concurrent().search_like(like["video_id"], t=like["t"], start=like["start"],
                                                     end=like["end"], **scope)
    except ValueError as exc:  # e.g. nothing stored in that span
        raise _bad("bad_like", str(exc)) from None
    return _answer(moments)


@bp.get("")
@spec.validate(query=SearchArgs)
def search_get():
    """``GET /api/v1/search?text=...`` (or ``like_video=&like_t=``): the POST's answer, for links and curl."""
    q = given().query
    if q.image is not None:
        return _search_stored_image(q.image, q)
    return _text_or_like(q)


@bp.post("")
@spec.validate(json=SearchJson, form=SearchForm)
def search():
    sent = given()
    if sent.json is not None:
        return _text_or_like(sent.json)
    q = sent.form
    if q is None:  # neither JSON nor a form
        raise _bad(*SearchForm.none)
    if q.text is not None or q.like_query is not None:
        return _text_or_like(q)
    scope = _scope(q.scope())
    if q.clip is not None:
        return _answer(_search_clip(q.clip, **scope))
    image = q.image
    picture = _load_picture(image, q.region)
    digest = None
    if isinstance(image.stream, HashingFile):  # kept a while, for links to this search (web/query_images.py)
        image.stream.flush()
        digest = query_images.keep(library().settings.query_images_dir, image.stream.name,
                                   image.stream.hexdigest(), image.filename)
    return _image_answer(picture, q.region, q.refine, scope, digest)


def _text_or_like(q):
    """The answer to a validated text or find-similar query (``q``: SearchArgs, SearchForm or SearchJson)."""
    like = q.like_query
    return _search_like(like, q.scope()) if like is not None else _search_text(q.text, q.scope())


def _image_answer(picture, region, refine, scope: dict, digest: str | None):
    try:  # the embedding runs outside the library lock; store and catalog calls take it
        moments = library().concurrent().search_image(picture, batcher=library().image_batcher,
                                                      refine=refine, part=region is not None, **scope)
    except ValueError as exc:  # e.g. a region outside the picture
        raise _bad("bad_region" if region is not None else "bad_request", str(exc)) from None
    return _answer(moments, **({"query_image": digest} if digest else {}))


def _search_stored_image(digest: str, q):
    """``GET ?image=HASH``: the picture of an earlier search (its answer's ``query_image``) again."""
    path = query_images.find(library().settings.query_images_dir, digest)
    if path is None:
        raise ApiError(404, "query_image_not_found", f"image: no stored query picture {digest!r} (pictures are "
                                                     f"kept {query_images.KEEP_S / 86400:g} days after their last "
                                                     "search): search with the picture again")
    region, refine = q.region, q.refine
    scope = _scope(q.scope())
    with open(path, "rb") as f:
        picture = _load_picture(SimpleNamespace(stream=f, filename=path.name), region)
    return _image_answer(picture, region, refine, scope, digest)


def _clip_path(upload) -> str:
    part = upload.stream
    if not isinstance(part, HashingFile):  # cannot happen with UploadRequest
        raise ApiError(500, "internal_error", "the clip was not stored")
    part.flush()
    if part.size == 0:
        raise ApiError(415, "unsupported_media_type", f"{safe_name(upload.filename)}: empty file")
    return part.name


def _media_error(upload, exc: MediaError) -> ApiError:
    if isinstance(exc, TooLarge):
        return ApiError(413, exc.code, f"{safe_name(upload.filename)}: {exc.reason}")
    return ApiError(415, "unsupported_media_type", f"{safe_name(upload.filename)}: {exc.reason}")


def _load_picture(upload, region):
    """The query picture (its region only), decoded no larger than the frame size needs
    (:func:`load_image`), in one of the app's decode slots. Needs no library lock."""
    slots = current_app.extensions[IMAGE_SLOTS_KEY]
    if not slots.acquire(timeout=IMAGE_SLOT_WAIT_S):
        busy = ApiError(503, "busy", "too many query pictures are being decoded; try again shortly")
        busy.headers["Retry-After"] = str(IMAGE_RETRY_AFTER_S)
        raise busy
    try:
        return load_image(upload.stream, name=upload.filename, min_short_side=library().settings.frame_size,
                          region=region)
    except TooLarge as exc:
        raise ApiError(413, exc.code, str(exc)) from None
    except MediaError as exc:
        raise ApiError(415, "unsupported_media_type", str(exc)) from None
    except ValueError as exc:  # a region outside the picture
        raise _bad("bad_region", str(exc)) from None
    finally:
        slots.release()


def _search_clip(upload, **scope):
    """As ``vidsearch search --clip``. Decoding and embedding the clip run outside the library lock
    (:meth:`SerialLibrary.concurrent`)."""
    path = _clip_path(upload)
    try:
        check_video(path, safe_name(upload.filename))
        return library().concurrent().search_clip(path, **scope)
    except MediaError as exc:
        raise _media_error(upload, exc) from None


@dedup_bp.post("")
@spec.validate(form=Dedup)
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
