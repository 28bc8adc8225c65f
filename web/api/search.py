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

import argparse
import math
from types import SimpleNamespace

from flask import Blueprint, current_app, jsonify, request

from vidsearch.query import WallTime, parse_region, parse_time, parse_time_of_day, parse_when
from vidsearch.config import parse_bool
from vidsearch.media.errors import MediaError, TooLarge
from vidsearch.media.image import load_image
from web.access import library
from web.api.schemas import match_json, moment_json
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


bp.before_request(_query_upload)
dedup_bp.before_request(_query_upload)

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_OFFSET = 1000
SORTS = ("score", "time")
MAX_TEXT = 1000  # characters of a text query
MAX_JSON_BYTES = 64 * 1024
# A query picture waits this long for one of the VIDSEARCH_IMAGE_DECODES decode slots, then 503: a
# decode takes at most a few seconds (docs/benchmarks.md "Query image bounds"), so a burst queues
# and a flood is told to come back instead of holding every server thread.
IMAGE_SLOT_WAIT_S = 10.0
IMAGE_RETRY_AFTER_S = 5
IMAGE_SLOTS_KEY = "vidsearch.image_slots"  # app.extensions: a semaphore of VIDSEARCH_IMAGE_DECODES slots


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


def _parsed(name: str, raw: str | None, parse, code: str):
    """``parse(raw)`` of a field given as text (None when blank); a bad value is a 400 ``code``."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = parse(raw.strip())
    except (argparse.ArgumentTypeError, ValueError, OverflowError) as exc:
        raise _bad(code, f"{name}: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(code, f"{name}: {raw.strip()!r} is not a finite time")
    return value


def _optional(name: str, parse, code: str):
    return _parsed(name, request.form.get(name), parse, code)


def _text(raw) -> str:
    if not isinstance(raw, str):
        raise _bad("bad_text", "text must be a string")
    text = raw.strip()
    if not text:
        raise _bad("bad_text", "the text query is empty")
    if len(text) > MAX_TEXT:
        raise _bad("bad_text", f"the text query is longer than {MAX_TEXT} characters")
    return text


def _offset(raw) -> int:
    """``offset`` from a form field (text) or JSON (a whole number)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return 0
    if isinstance(raw, str):
        try:
            raw = int(raw.strip())
        except ValueError:
            raise _bad("bad_offset", f"offset must be a whole number, not {raw!r}") from None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_OFFSET:
        raise _bad("bad_offset", f"offset must be a whole number from 0 to {MAX_OFFSET}, not {raw!r}")
    return raw


def _sort(raw) -> str:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return "score"
    if not isinstance(raw, str) or raw.strip() not in SORTS:
        raise _bad("bad_sort", f"sort must be one of {', '.join(SORTS)}, not {raw!r}")
    return raw.strip()


def _weak(raw) -> bool:
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, str):
        return bool(_parsed("include_weak", raw, parse_bool, "bad_include_weak"))
    raise _bad("bad_include_weak", f"include_weak must be true or false, not {raw!r}")


def _page(get) -> dict:
    """The page fields (offset, sort, include_weak) of a form or a JSON body."""
    return {"offset": _offset(get("offset")), "sort": _sort(get("sort")), "include_weak": _weak(get("include_weak"))}


def _answer(moments, **extra):
    return jsonify({"results": [moment_json(m) for m in moments], "weak": getattr(moments, "weak", 0),
                    "next_offset": getattr(moments, "next_offset", None), **extra})


def _json_limit(raw) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (isinstance(raw, float) and not raw.is_integer()):
        raise _bad("bad_limit", f"limit must be a whole number, not {raw!r}")
    if not 1 <= raw <= MAX_LIMIT:
        raise _bad("bad_limit", f"limit must be between 1 and {MAX_LIMIT}, not {raw:g}")
    return int(raw)


def _json_time(name: str, raw):
    """A JSON bound: a number of seconds of video time, or a string as the CLI takes it."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return _parsed(name, raw, parse_when, "bad_time")
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
        raise _bad("bad_time", f"{name}: give seconds (a number, not negative), HH:MM:SS or a date-time, not {raw!r}")
    return float(raw)


def _check_order(after, before) -> None:
    """``after`` later than ``before`` (both video time, or both wall-clock) is a malformed query."""
    if after is None or before is None or isinstance(after, WallTime) != isinstance(before, WallTime):
        return
    if after > before:
        what = "date-time" if isinstance(after, WallTime) else "s"
        raise _bad("bad_time", f"after ({after:g} {what}) is later than before ({before:g} {what})")


def _check_video(video_id: str | None, what: str = "video_id") -> None:
    if video_id is not None:
        with library().use() as lib:
            if lib.video(video_id) is None:
                raise ApiError(404, "video_not_found", f"{what}: no video with id {video_id!r}")


def _string(name: str, raw, longest: int = 200) -> str | None:
    """An optional short string field (video_id, camera); blank is None."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _bad("bad_request", f"{name} must be a string")
    raw = raw.strip()
    if len(raw) > longest:
        raise _bad("bad_request", f"{name} is longer than {longest} characters")
    return raw or None


def _fields(get, *, typed: bool) -> dict:
    """The fields every query kind shares, from a form or query string (``typed`` False: every
    value a string) or a JSON body (``typed``: numbers stay numbers): the answers' scope and page."""
    if typed:
        limit, after, before = (_json_limit(get("limit")), _json_time("after", get("after")),
                                _json_time("before", get("before")))
    else:
        limit = _limit(get("limit"))
        after, before = (_parsed(n, get(n), parse_when, "bad_time") for n in ("after", "before"))
    _check_order(after, before)
    window = get("time_of_day")
    if window is not None and not isinstance(window, str):
        raise _bad("bad_time_of_day", "time_of_day must be a string HH:MM-HH:MM")
    return {"limit": limit, "video_id": _string("video_id", get("video_id")), "after": after, "before": before,
            "camera": _string("camera", get("camera")),
            "time_of_day": _parsed("time_of_day", window, parse_time_of_day, "bad_time_of_day"),
            "page": _page(get)}


def _scope(f: dict) -> dict:
    """``limit``, ``video_id``, video-time ``after``/``before``, ``where`` (the store's payload
    filters) and the page, as the library's search methods take them."""
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


def _like_time(name: str, raw, typed: bool):
    if typed and not isinstance(raw, str):
        value = _json_time(name, raw)
        if isinstance(value, WallTime):  # cannot happen for a number
            raise _bad("bad_like", f"{name}: give seconds of video time")
        return value
    return _parsed(name, raw, parse_time, "bad_like")


def _like(video_id, t, start, end, *, typed: bool, names=("video_id", "t", "start", "end")) -> dict:
    """A find-similar query: a stored frame (``t``) or span (``start``, ``end``) of an indexed video."""
    vid = _string(names[0], video_id)
    if vid is None:
        raise _bad("bad_like", f"find similar needs {names[0]}: the video whose stored frames are the query")
    t, start, end = (_like_time(n, v, typed) for n, v in zip(names[1:], (t, start, end)))
    if t is None and (start is None or end is None):
        raise _bad("bad_like", f"find similar needs {names[1]} (a frame) or {names[2]} and {names[3]} (a span)")
    if t is not None and (start is not None or end is not None):
        raise _bad("bad_like", f"find similar takes {names[1]} (a frame) or {names[2]} and {names[3]} (a span), not both")
    if t is None and not end > start:
        raise _bad("bad_like", f"{names[3]} ({end:g} s) must be after {names[2]} ({start:g} s)")
    return {"video_id": vid, "t": t, "start": start, "end": end}


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


def _strings(get) -> object:
    """A form's or query string's ``like_*`` fields as a find-similar query, or None."""
    names = ("like_video", "like_t", "like_start", "like_end")
    if all((get(n) or "").strip() == "" for n in names):
        return None
    return _like(*(get(n) for n in names), typed=False, names=names)


def _search_json():
    request.max_content_length = MAX_JSON_BYTES
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or ("text" not in body and "like" not in body):
        raise _bad("bad_request", 'send JSON {"text": "what to find"} or {"like": {"video_id": ..., "t": ...}}, or '
                                  "multipart/form-data with the query in the field 'text', 'image' or 'clip'")
    if "text" in body and "like" in body:
        raise _bad("bad_request", "send one query: 'text' or 'like', not both")
    if body.get("region") is not None:
        raise _bad("bad_region", "region applies to image queries only")
    if "like" in body:
        like = body["like"]
        if not isinstance(like, dict):
            raise _bad("bad_like", 'like must be an object {"video_id": ..., "t": seconds} or '
                                   '{"video_id": ..., "start": seconds, "end": seconds}')
        like = _like(like.get("video_id"), like.get("t"), like.get("start"), like.get("end"), typed=True)
        return _search_like(like, _fields(body.get, typed=True))
    text = _text(body["text"])
    return _search_text(text, _fields(body.get, typed=True))


@bp.get("")
def search_get():
    """``GET /api/v1/search?text=...`` (or ``like_video=&like_t=``): the POST's answer, for links and curl."""
    args = request.args
    text, like, stored = args.get("text"), _strings(args.get), args.get("image")
    if (text is not None) + (like is not None) + (stored is not None) > 1:
        raise _bad("bad_request", "send one query: 'text', 'like_video' or 'image', not several")
    if text is None and like is None and stored is None:
        raise _bad("no_query", "no query: give text=..., like_video=...&like_t=... or image=HASH (a picture "
                               "searched before; new pictures and clips are uploads: POST them)")
    if stored is not None:
        return _search_stored_image(stored.strip(), _fields(args.get, typed=False))
    for name in ("region", "refine"):
        if args.get(name, "").strip():
            raise _bad(f"bad_{name}", f"{name} applies to image queries only")
    fields = _fields(args.get, typed=False)
    return _search_like(like, fields) if like is not None else _search_text(_text(text), fields)


@bp.post("")
def search():
    if request.is_json:
        return _search_json()
    image = request.files.get("image")  # reading the body may raise 413 (the query limit)
    clip = request.files.get("clip")
    has_image, has_clip = image is not None and bool(image.filename), clip is not None and bool(clip.filename)
    text = request.form.get("text")
    like = _strings(request.form.get)
    if has_image + has_clip + (text is not None) + (like is not None) > 1:
        raise _bad("bad_request", "send one query: 'text', 'image', 'clip' or 'like_video', not several")
    if text is None and not has_image and not has_clip and like is None:
        raise _bad("no_image", "no query: send text in the field 'text' (or JSON {\"text\": ...}), a picture in "
                               "the multipart field 'image' or a video in 'clip'")
    if text is not None or like is not None:
        if request.form.get("region", "").strip():
            raise _bad("bad_region", "region applies to image queries only")
        if request.form.get("refine", "").strip():
            raise _bad("bad_refine", "refine applies to image queries only")
        fields = _fields(request.form.get, typed=False)
        return _search_like(like, fields) if like is not None else _search_text(_text(text), fields)
    fields = _fields(request.form.get, typed=False)
    region = _optional("region", parse_region, "bad_region")
    refine = _optional("refine", parse_bool, "bad_refine")
    if clip is not None and clip.filename:
        if region is not None:
            raise _bad("bad_region", "region applies to image queries only")
        if refine is not None:
            raise _bad("bad_refine", "refine applies to image queries only")
        scope = _scope(fields)
        return _answer(_search_clip(clip, **scope))

    scope = _scope(fields)
    picture = _load_picture(image, region)
    digest = None
    if isinstance(image.stream, HashingFile):  # kept a while, for links to this search (web/query_images.py)
        image.stream.flush()
        digest = query_images.keep(library().settings.query_images_dir, image.stream.name,
                                   image.stream.hexdigest(), image.filename)
    return _image_answer(picture, region, refine, scope, digest)


def _image_answer(picture, region, refine, scope: dict, digest: str | None):
    try:  # the embedding runs outside the library lock; store and catalog calls take it
        moments = library().concurrent().search_image(picture, batcher=library().image_batcher,
                                                      refine=refine, part=region is not None, **scope)
    except ValueError as exc:  # e.g. a region outside the picture
        raise _bad("bad_region" if region is not None else "bad_request", str(exc)) from None
    return _answer(moments, **({"query_image": digest} if digest else {}))


def _search_stored_image(digest: str, fields: dict):
    """``GET ?image=HASH``: the picture of an earlier search (its answer's ``query_image``) again."""
    path = query_images.find(library().settings.query_images_dir, digest)
    if path is None:
        raise ApiError(404, "query_image_not_found", f"image: no stored query picture {digest!r} (pictures are "
                                                     f"kept {query_images.KEEP_S / 86400:g} days after their last "
                                                     "search): search with the picture again")
    region = _parsed("region", request.args.get("region"), parse_region, "bad_region")
    refine = _parsed("refine", request.args.get("refine"), parse_bool, "bad_refine")
    scope = _scope(fields)
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
