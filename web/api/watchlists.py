"""The watchlists and alerts resources (vidsearch/alert, docs/watchlists.md).

| method | path | answer |
|---|---|---|
| POST | /api/v1/watchlists | 201 the watchlist: multipart (``name``, ``kind``, file ``image`` or ``clip``, ``region``, ``threshold``, ``camera``, ``hours``, ``webhook``) or JSON (text and example watchlists) |
| GET | /api/v1/watchlists | ``{"watchlists": [...]}`` |
| GET/DELETE | /api/v1/watchlists/<name> | one watchlist / ``{"deleted": name}`` |
| POST | /api/v1/watchlists/<name>/backtest | ``{"matches": [...], "per_day": {...}}`` over what is indexed (JSON ``after``/``before``) |
| POST | /api/v1/watchlists/<name>/marks | JSON ``{"right": bool, "alert_id"}`` or ``{"right", "moment"}``: the watchlist re-fitted |
| GET | /api/v1/alerts | ``{"alerts": [...]}``, newest first (``watchlist``, ``since``, ``limit``) |

Creating, deleting and marking need the API key when one is configured (a webhook makes the
server send requests: see the SSRF note in docs/watchlists.md).
"""
from __future__ import annotations

import math

from flask import Blueprint, current_app, jsonify, request

from vidsearch.alert.watchlist import WatchlistError
from vidsearch.media.errors import MediaError
from vidsearch.query import parse_region, parse_when
from web.access import library
from web.api.schemas import served_json, shown_path, stream_url, thumbnail_url
from web.auth import trusted_caller, write_endpoint
from web.errors import ApiError
from web.uploads import UPLOAD_DIR_KEY, HashingFile

bp = Blueprint("watchlists", __name__, url_prefix="/watchlists")
alerts_bp = Blueprint("alerts", __name__, url_prefix="/alerts")
MAX_JSON_BYTES = 256 * 1024


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, f"bad_{field.split('[')[0]}", f"{field}: {message}")


def _watchlist_json(lib, w) -> dict:
    d = lib.watchlists.describe(w)
    if d.get("webhook") and not trusted_caller():
        d["webhook"] = "(set)"
    return d


def alert_json(a) -> dict:
    return served_json(a)


def _number(field: str, raw):
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise _bad(field, f"{raw!r} is not a number") from None
    if isinstance(raw, bool) or not math.isfinite(value):
        raise _bad(field, f"{raw!r} is not a finite number")
    return value


def _when(field: str, raw):
    """Seconds since the epoch, or a date-time as the CLI takes it."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    try:
        value = parse_when(str(raw).strip())
    except Exception as exc:
        raise _bad(field, str(exc)) from None
    return float(value)


def _with_errors(fn):
    try:
        return fn()
    except WatchlistError as exc:
        raise _bad(exc.field, str(exc).split(": ", 1)[-1]) from None
    except MediaError as exc:
        raise ApiError(415, "unsupported_media_type", str(exc.reason)) from None
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@bp.post("")
@write_endpoint
def add_watchlist():
    if request.mimetype == "multipart/form-data":
        request.max_content_length = current_app.config["VIDSEARCH_MAX_QUERY"]
        folder = library().settings.uploads_dir
        folder.mkdir(parents=True, exist_ok=True)
        request.environ[UPLOAD_DIR_KEY] = str(folder)
        f = request.form
        image, clip = request.files.get("image"), request.files.get("clip")
        kind = (f.get("kind") or ("clip" if clip else "image")).strip()
        region = None
        if f.get("region"):
            try:
                region = parse_region(f["region"])
            except Exception as exc:
                raise _bad("region", str(exc)) from None
        args = dict(name=f.get("name"), kind=kind, threshold=_number("threshold", f.get("threshold")),
                    camera=f.get("camera") or None, hours=f.get("hours") or None, webhook=f.get("webhook") or None,
                    text=f.get("text"), region=region)
        if image is not None and image.filename:
            args["image"] = image.stream
        if clip is not None and clip.filename:
            part = clip.stream
            if not isinstance(part, HashingFile):
                raise ApiError(500, "internal_error", "the clip was not stored")
            part.flush()
            args["clip"] = part.name
    elif request.is_json:
        request.max_content_length = MAX_JSON_BYTES
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "send a JSON object")
        args = dict(name=body.get("name"), kind=str(body.get("kind") or ""), text=body.get("text"),
                    examples=body.get("examples"), negatives=body.get("negatives"),
                    threshold=_number("threshold", body.get("threshold")), camera=body.get("camera"),
                    hours=body.get("hours"), webhook=body.get("webhook"), method=body.get("method") or "probe")
        if args["kind"] in ("image", "region", "clip"):
            raise ApiError(415, "unsupported_media_type", f"a {args['kind']} watchlist is sent as multipart/form-data "
                                                          "with the file in 'image' or 'clip'")
    else:
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data (image, clip) or JSON (text, examples)")
    with library().use() as lib:
        w = _with_errors(lambda: lib.watchlists.add(**args))
        out = _watchlist_json(lib, w)
    response = jsonify(out)
    response.status_code = 201
    return response


@bp.get("")
def list_watchlists():
    with library().use() as lib:
        return jsonify({"watchlists": [_watchlist_json(lib, w) for w in lib.watchlists.list()]})


def _named(lib, name: str):
    w = lib.watchlists.get(name)
    if w is None:
        raise ApiError(404, "watchlist_not_found", f"no watchlist named {name!r}")
    return w


@bp.get("/<name>")
def get_watchlist(name: str):
    with library().use() as lib:
        return jsonify(_watchlist_json(lib, _named(lib, name)))


@bp.delete("/<name>")
@write_endpoint
def delete_watchlist(name: str):
    with library().use() as lib:
        if not lib.watchlists.remove(name):
            raise ApiError(404, "watchlist_not_found", f"no watchlist named {name!r}")
    return jsonify({"deleted": name})


def _json_body() -> dict:
    request.max_content_length = MAX_JSON_BYTES
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "send a JSON object")
    return body


@bp.post("/<name>/backtest")
def backtest_watchlist(name: str):
    body = _json_body()
    after, before = _when("after", body.get("after")), _when("before", body.get("before"))
    with library().use() as lib:
        _named(lib, name)
        out = lib.watchlists.backtest(name, after=after, before=before)
    trusted = trusted_caller()
    for m in out["matches"]:
        m["thumbnail_url"] = thumbnail_url(m["video_id"], m["thumbnail"])
        m["stream_url"] = stream_url(m["video_id"])
        m["path"] = shown_path(m["path"], trusted=trusted)
        m["thumbnail"] = shown_path(m["thumbnail"], trusted=trusted)
    return jsonify(out)


@bp.post("/<name>/marks")
@write_endpoint
def mark(name: str):
    body = _json_body()
    right = body.get("right")
    if not isinstance(right, bool):
        raise _bad("right", "give true (a right match) or false (a wrong one)")
    alert_id = body.get("alert_id")
    if alert_id is not None and (isinstance(alert_id, bool) or not isinstance(alert_id, int)):
        raise _bad("alert_id", f"{alert_id!r} is not an alert id")
    if alert_id is None and not isinstance(body.get("moment"), dict):
        raise ApiError(400, "bad_request", "give alert_id, or moment {video_id, start, end, score}")
    with library().use() as lib:
        _named(lib, name)
        out = _with_errors(lambda: lib.watchlists.mark(name, right=right, alert_id=alert_id, moment=body.get("moment")))
        out = _watchlist_json(lib, lib.watchlists.get(name))
    return jsonify(out)


@alerts_bp.get("")
def list_alerts():
    name = request.args.get("watchlist") or None
    since = _when("since", request.args.get("since"))
    raw = request.args.get("limit")
    limit = None
    if raw is not None:
        try:
            limit = int(raw)
        except ValueError:
            raise _bad("limit", f"{raw!r} is not a whole number from 1 to 1000") from None
        if not 1 <= limit <= 1000:
            raise _bad("limit", "a whole number from 1 to 1000")
    with library().use() as lib:
        if name is not None:
            _named(lib, name)
        alerts = lib.watchlists.alerts(watchlist=name, since=since, limit=int(limit or 100))
    return jsonify({"alerts": [alert_json(a) for a in alerts]})
