"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of API v1.

The shapes come from the models of :mod:`web.api.shapes`: spectree generates the parameters and
request bodies of the routes it validates, and every model is one entry of ``components/schemas``
(Moment, Video, Job, IngestResult, Error, ...), referenced wherever it is used. What is written
here is each route's summary and its answers (statuses, headers, file types).
``tests/web/test_openapi.py`` runs schemathesis against a live server with this document.
"""
from __future__ import annotations

import copy

from flask import Blueprint, current_app, jsonify
from pydantic.json_schema import models_json_schema

from web.api.shapes import RESPONSES, spec

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return {"$ref": "#/components/responses/Error", "description": description}


_BINARY = {"schema": {"type": "string", "format": "binary"}}
# by the file's extension: video/*, image/gif (a video format), else application/octet-stream
_STREAM_TYPES = {"video/*": _BINARY, "image/gif": _BINARY, "application/octet-stream": _BINARY}
_VIDEO_ID = {"name": "video_id", "in": "path", "required": True, "schema": {"type": "string"}}
_WRITE_SECURITY = [{}, {"bearer": []}, {"apiKey": []}]  # {}: no key needed when none is configured


def _response_schemas() -> dict:
    """The response models and the models inside them, by name."""
    _, top = models_json_schema([(m, "validation") for m in RESPONSES], ref_template="#/components/schemas/{model}")
    return top["$defs"]


def _with_requests(generated: dict, document: dict) -> dict:
    """``document`` with the parameters, request bodies and 400 answers that spectree generated from
    the request models; a validated route missing from ``document`` is an error."""
    for path, item in generated["paths"].items():
        for method, op in item.items():
            mine = document["paths"][path][method]
            known = {(p["name"], p["in"]) for p in mine.get("parameters", [])}
            params = mine.get("parameters", []) + [{k: v for k, v in p.items() if v != ""} for p in op["parameters"]
                                                   if (p["name"], p["in"]) not in known]
            if params:
                mine["parameters"] = params
            if "requestBody" in op:
                mine["requestBody"] = op["requestBody"]
            for status, answer in op["responses"].items():
                mine["responses"].setdefault(status, answer)
    return document


def _request_checks(document: dict) -> dict:
    """The answers of web/origin.py, which checks every request before its endpoint does."""
    for item in document["paths"].values():
        for method, op in item.items():
            if method == "parameters":
                continue
            responses = op["responses"]
            responses["421"] = _error("bad_host: the Host header names none of this server's host names "
                                      "(VIDSEARCH_ALLOWED_HOSTS)")
            if method not in ("get", "head", "options"):
                other = responses.get("403", {}).get("description")
                responses["403"] = _error("cross_origin: a page of another origin sent it (Sec-Fetch-Site, Origin)"
                                          + (f"; or {other}" if other else ""))
    return document


def build_document(max_query_mb: float, max_upload_mb: float) -> dict:
    generated = copy.deepcopy(spec.spec)  # the request shapes of the validated routes (web.api.shapes)
    return _request_checks(_with_requests(generated, {
        "openapi": "3.1.0",
        "info": {
            "title": "vidsearch API",
            "version": "1",
            "description": "Find moments in your videos by free text, a picture or a clip; add, list, stream and "
                           "delete videos. "
                           "Every error is JSON `{\"error\": {\"code\", \"message\"}}`. Write endpoints need the "
                           "API key when the server has one (VIDSEARCH_API_KEY).",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/healthz": {"get": {
                "operationId": "health",
                "summary": "Liveness, the number of videos, and whether the models are loaded",
                "responses": {"200": _json(_ref("Health"), "the server is up")},
            }},
            "/api/v1/search": {"get": {
                "operationId": "searchGet",
                "summary": "The same search as POST for text or find-similar, from the query string (links, curl)",
                "responses": {
                    "200": _json(_ref("SearchResults"), "ranked moments, best first"),
                    "400": _error("a malformed query (no query or both, empty text, bad limit, time, time_of_day "
                                  "or like)"),
                    "404": _error("video_id or like_video names no video, or image no kept picture"),
                    "413": _error("the kept picture is over the pixel or aspect limit"),
                    "415": _error("the kept picture is no longer readable"),
                    "503": _error("a model package is missing, or every picture decode slot stayed busy"),
                },
            }, "post": {
                "operationId": "search",
                "summary": "Find the moments that match free text, a still image or a video clip",
                "description": f"Upload at most {max_query_mb:g} MiB (VIDSEARCH_MAX_QUERY_MB). Text: JSON "
                               "`{\"text\": ...}` or the multipart field `text`; its moments carry `why`.",
                "responses": {
                    "200": _json(_ref("SearchResults"), "ranked moments, best first"),
                    "400": _error("a malformed query (no query or several, empty text, bad limit, time, "
                                  "time_of_day, like or region)"),
                    "404": _error("video_id or like names no video"),
                    "413": _error("the upload is over the query limit (`payload_too_large`), the picture over the "
                                  "pixel, decoded-size or 20:1 aspect limit (`image_too_large`), or the clip longer "
                                  "than VIDSEARCH_MAX_QUERY_CLIP_S (`clip_too_long`)"),
                    "415": _error("the upload is not a readable image or video"),
                    "503": _error("a model package is missing, or every picture decode slot stayed busy "
                                  "(`busy`, with Retry-After)"),
                },
            }},
            "/api/v1/dedup": {"post": {
                "operationId": "dedup",
                "summary": "Is this clip's footage already in the archive? The copies, with spans in both videos",
                "description": f"Upload at most {max_query_mb:g} MiB (VIDSEARCH_MAX_QUERY_MB).",
                "responses": {
                    "200": _json(_ref("DedupResults"), "the copies, best first; empty when the footage is new"),
                    "400": _error("no clip"),
                    "413": _error("the upload is over the query limit (`payload_too_large`), or the clip longer "
                                  "than VIDSEARCH_MAX_QUERY_CLIP_S (`clip_too_long`)"),
                    "415": _error("the upload is not a readable video"),
                    "503": _error("a model package is missing"),
                },
            }},
            "/api/v1/videos": {
                "get": {
                    "operationId": "listVideos",
                    "summary": "Every video with its status",
                    "responses": {"200": _json(_ref("VideoList"), "the catalog, oldest first")},
                },
                "post": {
                    "operationId": "addVideos",
                    "summary": "Upload a video, or name a file or folder on the server, to be indexed in the background",
                    "description": f"Uploads: at most {max_upload_mb:g} MiB (VIDSEARCH_MAX_UPLOAD_MB). Server paths: "
                                   "absolute, without `..`, under VIDSEARCH_ALLOWED_ROOTS (symbolic links that lead "
                                   "out are refused). Follow the job with GET /api/v1/jobs/{job_id}.",
                    "security": _WRITE_SECURITY,
                    "responses": {
                        "202": {
                            "description": "queued: one job (an upload or a file), or one job per file of a folder",
                            "headers": {"Location": {"description": "the job (single file)",
                                                     "schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {
                                "oneOf": [_ref("Accepted"), _ref("AcceptedFolder")]}}},
                        },
                        "400": _error("no file, a malformed body or path, or a folder without videos"),
                        "401": _error("the API key is missing or wrong"),
                        "403": _error("the path is not allowed (outside the roots, `..`, path ingestion disabled)"),
                        "404": _error("the path does not exist"),
                        "413": _error("the upload is over the limit"),
                        "415": _error("the upload is not a video, or the body is neither multipart nor JSON"),
                        "507": _error("not enough free disk space (VIDSEARCH_MIN_FREE_MB): for the upload, or in "
                                      "the data folder for indexing"),
                    },
                },
            },
            "/api/v1/videos/{video_id}": {
                "parameters": [_VIDEO_ID],
                "get": {
                    "operationId": "getVideo",
                    "summary": "One video",
                    "responses": {"200": _json(_ref("Video"), "the video"), "404": _error("no such video")},
                },
                "delete": {
                    "operationId": "deleteVideo",
                    "summary": ("Remove a video's vectors, thumbnails and record (and its file, when it was uploaded); "
                                "every queued job of it is cancelled"),
                    "security": _WRITE_SECURITY,
                    "responses": {
                        "200": _json(_ref("Deleted"), "deleted"),
                        "401": _error("the API key is missing or wrong"),
                        "404": _error("no such video"),
                        "409": _error("the video is being indexed right now"),
                    },
                },
            },
            "/api/v1/videos/{video_id}/stream": {"get": {
                "operationId": "streamVideo",
                "summary": "The video file, with HTTP Range support so that players can seek",
                "parameters": [_VIDEO_ID, {"name": "Range", "in": "header", "required": False,
                                           "schema": {"type": "string"}, "description": "e.g. bytes=0-1023"}],
                "responses": {
                    "200": {"description": "the whole file (or its playable copy, video/mp4)", "content": _STREAM_TYPES},
                    "202": {"description": "browsers cannot play the file and its playable copy is being made: "
                                           "ask again (Retry-After)",
                            "headers": {"Retry-After": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": _ref("Preparing")}}},
                    "206": {"description": "the requested range", "content": _STREAM_TYPES},
                    "404": _error("no such video, or its file is gone"),
                    "422": _error("not_playable: browsers cannot play the file and no playable copy could be made "
                                  "(the reason; VIDSEARCH_PLAYABLE_BUDGET_MB)"),
                    "409": _error("file_changed: the file on disk is no longer the one that was indexed (a "
                                  "link swapped in, another size or modification time); index it again"),
                    "416": _error("the range lies outside the file"),
                },
            }},
            "/api/v1/videos/{video_id}/clip": {"get": {
                "operationId": "exportClip",
                "summary": "A span of the video as an MP4 (H.264) attachment named after the video and the span",
                "description": "Stream copy when the video is H.264 4:2:0 and a clean keyframe lies within 0.25 s of "
                               "`start` (the clip then starts at that keyframe: `X-Vidsearch-Clip-Start`); else a "
                               "frame-exact transcode (libx264 ultrafast). At most VIDSEARCH_MAX_EXPORT_S seconds.",
                "responses": {
                    "200": {"description": "the clip", "headers": {
                        "Content-Disposition": {"schema": {"type": "string"}},
                        "X-Vidsearch-Export": {"schema": {"type": "string", "enum": ["copy", "transcode"]}},
                        "X-Vidsearch-Clip-Start": {"schema": {"type": "string"}}},
                        "content": {"video/mp4": _BINARY}},
                    "400": _error("bad_start, bad_end: missing, not a time, past the end, or end not after start"),
                    "404": _error("no such video, or its file is gone"),
                    "409": _error("file_changed (index it again), or not_indexed"),
                    "413": _error("span_too_long: longer than VIDSEARCH_MAX_EXPORT_S"),
                    "422": _error("export_failed: ffmpeg could not cut it"),
                    "503": _error("busy: every export slot stayed busy (Retry-After)"),
                    "507": _error("not enough free disk space (VIDSEARCH_MIN_FREE_MB)"),
                },
            }},
            "/api/v1/videos/{video_id}/frame": {"get": {
                "operationId": "exportFrame",
                "summary": "The frame at an instant (the first at or after it) as a JPEG attachment, decoded exactly",
                "responses": {
                    "200": {"description": "JPEG at display size", "headers": {
                        "Content-Disposition": {"schema": {"type": "string"}},
                        "X-Vidsearch-Frame-Time": {"schema": {"type": "string"},
                                                   "description": "the frame's own timestamp, seconds"}},
                        "content": {"image/jpeg": _BINARY}},
                    "400": _error("bad_t: missing, not a time, or past the end"),
                    "404": _error("no such video, or its file is gone"),
                    "409": _error("file_changed (index it again), or not_indexed"),
                    "422": _error("export_failed: the frame does not decode"),
                    "503": _error("busy: every export slot stayed busy (Retry-After)"),
                },
            }},
            "/api/v1/videos/{video_id}/segments/{index}/thumbnail": {"get": {
                "operationId": "segmentThumbnail",
                "summary": "A segment's thumbnail (the `thumbnail_url` of a moment)",
                "parameters": [_VIDEO_ID, {"name": "index", "in": "path", "required": True,
                                           "schema": {"type": "integer", "minimum": 0}}],
                "responses": {
                    "200": {"description": "JPEG", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
                    "404": _error("no such video or segment"),
                },
            }},
            "/api/v1/jobs": {"get": {
                "operationId": "listJobs",
                "summary": "The background ingest jobs this server remembers, newest first",
                "responses": {"200": _json(_ref("JobList"), "jobs")},
            }},
            "/api/v1/jobs/{job_id}": {"get": {
                "operationId": "getJob",
                "summary": "One job: status, progress (0..1), error, and the ingest result once finished",
                "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("Job"), "the job"), "404": _error("no such job")},
            }},
            "/api/v1/watchlists": {
                "get": {"operationId": "listWatchlists", "summary": "Every watchlist",
                        "responses": {"200": _json(_ref("WatchlistList"), "the watchlists, oldest first")}},
                "post": {
                    "operationId": "addWatchlist",
                    "summary": "Create a watchlist: every video indexed from now on is checked against it",
                    "description": "Image, region and clip watchlists: multipart/form-data with the file in `image` "
                                   "or `clip`. Text and example watchlists: JSON. `threshold` defaults to the kind's "
                                   "calibrated floor; `hours` is HH:MM-HH:MM of the moment's wall-clock time (VIDSEARCH_TIMEZONE); "
                                   "`webhook` must be on VIDSEARCH_WEBHOOK_HOSTS when that is set.",
                    "security": _WRITE_SECURITY,
                    "responses": {"201": _json(_ref("Watchlist"), "created"),
                                  "400": _error("a bad field (named in the message)"),
                                  "401": _error("the API key is missing or wrong"),
                                  "413": _error("the upload is over the query limit"),
                                  "415": _error("not multipart/JSON, or the file is not a picture / video")},
                },
            },
            "/api/v1/watchlists/{name}": {
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"operationId": "getWatchlist", "summary": "One watchlist",
                        "responses": {"200": _json(_ref("Watchlist"), "the watchlist"),
                                      "404": _error("no such watchlist")}},
                "delete": {"operationId": "deleteWatchlist", "summary": "Remove a watchlist with its alerts",
                           "security": _WRITE_SECURITY,
                           "responses": {"200": _json(_ref("Deleted"), "deleted"),
                                         "401": _error("the API key is missing or wrong"),
                                         "404": _error("no such watchlist")}},
            },
            "/api/v1/watchlists/{name}/backtest": {"post": {
                "operationId": "backtestWatchlist",
                "summary": "What the watchlist would have alerted on over what is already indexed",
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("Backtest"), "matches and counts per day"),
                              "400": _error("a bad time"), "404": _error("no such watchlist")},
            }},
            "/api/v1/watchlists/{name}/marks": {"post": {
                "operationId": "markWatchlist",
                "summary": "Mark an alert or a backtest match right or wrong; the threshold is re-fitted",
                "security": _WRITE_SECURITY,
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("Watchlist"), "the watchlist, re-fitted"),
                              "400": _error("a bad mark"), "401": _error("the API key is missing or wrong"),
                              "404": _error("no such watchlist")},
            }},
            "/api/v1/alerts": {"get": {
                "operationId": "listAlerts",
                "summary": "Alerts, newest first",
                "responses": {"200": _json(_ref("AlertList"), "alerts"), "400": _error("a bad filter"),
                              "404": _error("no such watchlist")},
            }},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {
            "schemas": {**generated["components"]["schemas"], **_response_schemas()},
            "responses": {"Error": _json(_ref("Error"), "an error")},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "VIDSEARCH_API_KEY"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "VIDSEARCH_API_KEY"},
            },
        },
    }))


@bp.get("/openapi.json")
def openapi_json():
    settings = current_app.extensions["vidsearch.library"].settings
    return jsonify(build_document(settings.max_query_mb, settings.max_upload_mb))
