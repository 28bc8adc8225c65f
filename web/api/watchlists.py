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

from flask import Blueprint, current_app, jsonify, request

from vidsearch.alert.watchlist import WatchlistError
from vidsearch.media.errors import MediaError
from web.access import library
from web.api.schemas import served_json, shown_path, stream_url, thumbnail_url
from web.api.shapes import AlertFilter, BacktestSpan, Mark, WatchlistForm, WatchlistJson, given, spec
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


def _with_errors(fn):
    try:
        return fn()
    except WatchlistError as exc:
        raise _bad(exc.field, str(exc).split(": ", 1)[-1]) from None
    except MediaError as exc:
        raise ApiError(415, "unsupported_media_type", str(exc.reason)) from None
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@bp.before_request
def _limits() -> None:
    """Before any body is read: a query picture's limit for uploads (over it: JSON 413), else JSON's."""
    if request.mimetype == "multipart/form-data":
        request.max_content_length = current_app.config["VIDSEARCH_MAX_QUERY"]
        folder = library().settings.uploads_dir
        folder.mkdir(parents=True, exist_ok=True)
        request.environ[UPLOAD_DIR_KEY] = str(folder)
    elif request.is_json:
        request.max_content_length = MAX_JSON_BYTES


def _moments(refs) -> list[dict] | None:
    return None if refs is None else [m.model_dump(exclude_unset=True) for m in refs]


@bp.post("")
@write_endpoint
@spec.validate(json=WatchlistJson, form=WatchlistForm)
def add_watchlist():
    f, body = given().form, given().json
    if f is not None:
        kind = f.kind or ("clip" if f.clip is not None else "image")
        args = dict(name=f.name, kind=kind, threshold=f.threshold, camera=f.camera, hours=f.hours,
                    webhook=f.webhook, text=f.text, region=f.region)
        if f.image is not None:
            args["image"] = f.image.stream
        if f.clip is not None:
            part = f.clip.stream
            if not isinstance(part, HashingFile):
                raise ApiError(500, "internal_error", "the clip was not stored")
            part.flush()
            args["clip"] = part.name
    elif body is not None:
        args = dict(name=body.name, kind=body.kind or "", text=body.text, examples=_moments(body.examples),
                    negatives=_moments(body.negatives), threshold=body.threshold, camera=body.camera,
                    hours=body.hours, webhook=body.webhook, method=body.method or "probe")
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


@bp.post("/<name>/backtest")
@spec.validate(json=BacktestSpan)
def backtest_watchlist(name: str):
    span = given().json or BacktestSpan()
    after, before = span.after, span.before
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
@spec.validate(json=Mark)
def mark(name: str):
    body = given().json
    if body is None:
        raise ApiError(400, "bad_request", 'send JSON {"right": true or false, "alert_id": ...} or {"right", "moment"}')
    moment = body.moment.model_dump(exclude_unset=True) if body.moment is not None else None
    with library().use() as lib:
        _named(lib, name)
        out = _with_errors(lambda: lib.watchlists.mark(name, right=body.right, alert_id=body.alert_id, moment=moment))
        out = _watchlist_json(lib, lib.watchlists.get(name))
    return jsonify(out)


@alerts_bp.get("")
@spec.validate(query=AlertFilter)
def list_alerts():
    q = given().query
    name = q.watchlist
    with library().use() as lib:
        if name is not None:
            _named(lib, name)
        alerts = lib.watchlists.alerts(watchlist=name, since=q.since, limit=q.limit)
    return jsonify({"alerts": [alert_json(a) for a in alerts]})
