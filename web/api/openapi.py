"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of API v1, written to match the code.

Each shape is declared once under ``components/schemas`` (Moment, Video, Job, IngestResult, Error,
...) and referenced everywhere it is used. ``tests/web/test_openapi.py`` runs schemathesis against
a live server with this document, so a response that does not conform fails the tests.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(type_: str, **kw) -> dict:
    return {"type": [type_, "null"], **kw}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return {"$ref": "#/components/responses/Error", "description": description}


ERROR_CODES = (
    "bad_request, bad_limit, bad_offset, bad_sort, bad_include_weak, bad_time, bad_region, bad_text, no_image, "
    "no_file, bad_path, no_videos, not_supported, "
    "unauthorized, path_not_allowed, not_found, video_not_found, job_not_found, thumbnail_not_found, "
    "file_missing, file_changed, method_not_allowed, video_busy, payload_too_large, image_too_large, "
    "clip_too_long, unsupported_media_type, busy, range_not_satisfiable, insufficient_storage, internal_error, "
    "model_unavailable, cross_origin, bad_host, bad_start, bad_end, bad_t, span_too_long, not_indexed, "
    "export_failed, not_playable, bad_name, bad_kind, bad_threshold, bad_hours, bad_webhook, "
    "bad_image, bad_clip, bad_examples, bad_negatives, bad_moment, bad_right, bad_alert_id, bad_since, "
    "watchlist_not_found"
)

_MOMENT_REF = {"type": "object", "required": ["video_id", "start", "end"],
               "properties": {"video_id": {"type": "string"}, "start": {"type": "number", "minimum": 0},
                              "end": {"type": "number", "minimum": 0}}}
_ALERT = {
    "type": "object",
    "description": "One moment of one video that a watchlist matched (vidsearch.alert.watchlist.Alert).",
    "required": ["watchlist", "video_id", "start", "end", "timestamp", "score", "confidence", "thumbnail_url",
                 "stream_url"],
    "properties": {
        "id": {"type": ["integer", "null"]}, "watchlist": {"type": "string"}, "video_id": {"type": "string"},
        "path": _nullable("string"), "start": {"type": "number"}, "end": {"type": "number"},
        "timestamp": {"type": "number"}, "score": {"type": "number"}, "confidence": _nullable("string"),
        "thumbnail": _nullable("string"), "thumbnail_url": _nullable("string"), "stream_url": {"type": "string"},
        "wall_time": _nullable("number"), "created": {"type": "number"}, "day": {"type": "string"},
    },
}
SCHEMAS: dict = {
    "Watchlist": {
        "type": "object",
        "description": "A standing query (docs/watchlists.md).",
        "required": ["name", "kind", "threshold", "threshold_source", "query", "marks", "alerts"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"},
            "kind": {"enum": ["image", "region", "clip", "text", "examples"]},
            "threshold": {"type": "number"}, "threshold_source": {"enum": ["default", "set", "marks"]},
            "query": {"type": "object"}, "camera": _nullable("string"), "hours": _nullable("string"),
            "webhook": _nullable("string"), "created": {"type": "number"}, "alerts": {"type": "integer"},
            "marks": {"type": "object", "properties": {"right": {"type": "integer"}, "wrong": {"type": "integer"},
                                                       "precision": _nullable("number")}},
            "delivery": {"type": "object", "description": "the webhook's deliveries: counts, attempts, last error"},
        },
    },
    "WatchlistList": {"type": "object", "required": ["watchlists"],
                      "properties": {"watchlists": {"type": "array", "items": {"$ref": "#/components/schemas/Watchlist"}}}},
    "Alert": _ALERT,
    "MarkedMoment": {"type": "object", "description": "a backtest match (or an alert's moment) being marked",
                     "properties": {"video_id": {"type": "string"}, "start": {"type": "number"},
                                    "end": {"type": "number"}, "timestamp": {"type": "number"},
                                    "score": {"type": "number"}}},
    "AlertList": {"type": "object", "required": ["alerts"],
                  "properties": {"alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}}}},
    "Backtest": {"type": "object", "required": ["matches", "per_day"],
                 "properties": {"watchlist": {"type": "string"}, "threshold": {"type": "number"},
                                "total": {"type": "integer"},
                                "matches": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
                                "per_day": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": f"machine-readable: {ERROR_CODES}"},
                "message": {"type": "string", "description": "for a person to read"},
            },
        }},
    },
    "Moment": {
        "type": "object",
        "description": "A span of one video that answers a query: exactly `vidsearch search --json`'s "
                       "result (vidsearch.records.Moment.to_dict) plus two URLs.",
        "required": ["video_id", "path", "start", "end", "timestamp", "score", "thumbnail", "thumbnail_url",
                     "stream_url"],
        "properties": {
            "video_id": {"type": "string"},
            "path": {"type": "string", "description": "the video file on the server: absolute for the local CLI's "
                                                    "token or the API key, else relative to its allowed root "
                                                    "or only its name"},
            "start": {"type": "number", "minimum": 0, "description": "seconds"},
            "end": {"type": "number", "minimum": 0, "description": "seconds"},
            "timestamp": {"type": "number", "minimum": 0, "description": "the best-matching frame, seconds"},
            "score": {"type": "number", "description": "images: cosine similarity of copy descriptors (1 = same "
                                                     "picture); clips: alignment score; text: fused score in [0, 1]"},
            "thumbnail": _nullable("string", description="the segment's JPEG on the server"),
            "thumbnail_url": _nullable("string", format="uri-reference"),
            "stream_url": {"type": "string", "format": "uri-reference"},
            "query_start": {"type": "number", "minimum": 0, "description": "clip queries: where in the clip (s)"},
            "query_end": {"type": "number", "minimum": 0, "description": "clip queries"},
            "why": {"type": "array", "items": {"type": "string"},
                    "description": "why it matched, in plain words: \"same picture (edited)\", \"shows: "
                                   "sulphur-crested cockatoo\", \"text on screen: 'exit'\""},
            "confidence": {"type": "string", "enum": ["same footage", "similar", "weak"],
                           "description": "same footage: a copy of the query's picture or footage, even edited; "
                                          "similar: above the no-match floor; weak: below it (only with "
                                          "include_weak). Calibrated on footage never indexed (docs/moments.md)"},
        },
    },
    "Match": {
        "type": "object",
        "description": "A span of the query clip that is a copy of a span of an indexed video: exactly "
                       "`vidsearch dedup --json`'s match (vidsearch.records.Match.to_dict) plus two URLs.",
        "required": ["video_id", "path", "ref_start", "ref_end", "query_start", "query_end", "score",
                     "ref_thumbnail_url", "stream_url"],
        "properties": {
            "video_id": {"type": "string"},
            "path": {"type": "string"},
            "ref_start": {"type": "number", "minimum": 0, "description": "seconds in the indexed video"},
            "ref_end": {"type": "number", "minimum": 0},
            "query_start": {"type": "number", "minimum": 0, "description": "seconds in the clip"},
            "query_end": {"type": "number", "minimum": 0},
            "score": {"type": "number", "description": "calibrated copy score (a copy at or above the threshold)"},
            "ref_thumbnail_url": _nullable("string", format="uri-reference"),
            "stream_url": {"type": "string", "format": "uri-reference"},
        },
    },
    "Video": {
        "type": "object",
        "description": "One catalog record (`vidsearch videos --json`) plus its stream URL.",
        "required": ["id", "path", "status", "size", "mtime", "duration", "fps", "width", "height", "error",
                     "frames", "segments", "added_at", "indexed_at", "stream_url"],
        "properties": {
            "id": {"type": "string", "description": "content hash of the file"},
            "path": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "indexing", "indexed", "failed"]},
            "size": {"type": "integer", "minimum": 0},
            "mtime": {"type": "number"},
            "duration": _nullable("number", minimum=0),
            "fps": _nullable("number", minimum=0),
            "width": _nullable("integer", minimum=0),
            "height": _nullable("integer", minimum=0),
            "error": _nullable("string"),
            "frames": {"type": "integer", "minimum": 0, "description": "keyframes stored"},
            "segments": {"type": "integer", "minimum": 0},
            "added_at": {"type": "number", "description": "Unix time"},
            "indexed_at": _nullable("number", description="Unix time"),
            "camera": _nullable("string", description="the camera that recorded it, when known"),
            "wall_start": _nullable("number", description="wall-clock start of the recording (Unix time), when known"),
            "stream_url": {"type": "string", "format": "uri-reference"},
        },
    },
    "IngestResult": {
        "type": "object",
        "description": "One file's ingest result, as `vidsearch ingest --json` prints it.",
        "required": ["path", "status", "video_id", "error", "duration", "samples", "keyframes", "segments", "times"],
        "properties": {
            "path": {"type": "string"},
            "status": {"type": "string", "enum": ["indexed", "skipped", "failed"]},
            "video_id": _nullable("string"),
            "error": _nullable("string"),
            "duration": {"type": "number", "minimum": 0},
            "samples": {"type": "integer", "minimum": 0},
            "keyframes": {"type": "integer", "minimum": 0},
            "segments": {"type": "integer", "minimum": 0},
            "times": {"type": "object", "additionalProperties": {"type": "number"},
                      "description": "seconds per stage"},
        },
    },
    "Job": {
        "type": "object",
        "description": "A background ingest job of this server.",
        "required": ["id", "video_id", "path", "status", "progress", "error", "created_at", "finished_at", "result"],
        "properties": {
            "id": {"type": "string"},
            "video_id": _nullable("string", description="known at once for uploads; else once the job starts"),
            "path": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "error": _nullable("string"),
            "created_at": {"type": "number", "description": "Unix time"},
            "finished_at": _nullable("number", description="Unix time"),
            "result": {"oneOf": [_ref("IngestResult"), {"type": "null"}]},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["video_id", "job_id"],
        "properties": {
            "video_id": _nullable("string", description="null for a server file not seen before: see the job"),
            "job_id": {"type": "string"},
        },
    },
    "AcceptedFolder": {
        "type": "object",
        "required": ["jobs", "refused"],
        "properties": {
            "jobs": {"type": "array", "items": {
                "type": "object",
                "required": ["video_id", "job_id", "path"],
                "properties": {"video_id": _nullable("string"), "job_id": {"type": "string"},
                               "path": {"type": "string"}},
            }},
            "refused": {"type": "array", "items": {"type": "string"},
                        "description": "files skipped because a symbolic link leads outside the allowed roots"},
        },
    },
    "SearchResults": {
        "type": "object",
        "required": ["results", "weak", "next_offset"],
        "properties": {
            "results": {"type": "array", "items": _ref("Moment")},
            "weak": {"type": "integer", "minimum": 0,
                     "description": "results below the no-match floor (left out unless include_weak)"},
            "next_offset": _nullable("integer", description="the offset of the next page; null: no more"),
            "query_image": {"type": "string", "pattern": "^[0-9a-f]{16}$",
                            "description": "an image query's picture, kept a while under this hash: "
                                           "GET /api/v1/search?image=HASH searches it again"},
        },
    },
    "VideoList": {
        "type": "object",
        "required": ["videos"],
        "properties": {"videos": {"type": "array", "items": _ref("Video")}},
    },
    "JobList": {
        "type": "object",
        "required": ["jobs"],
        "properties": {"jobs": {"type": "array", "items": _ref("Job")}},
    },
    "DedupResults": {
        "type": "object",
        "required": ["matches"],
        "properties": {"matches": {"type": "array", "items": _ref("Match")}},
    },
    "Deleted": {
        "type": "object",
        "required": ["deleted"],
        "properties": {"deleted": {"type": "string"}},
    },
    "Preparing": {
        "type": "object",
        "description": "The stream of a video that browsers cannot play while its playable copy (H.264 MP4) is made",
        "required": ["status", "progress", "reason", "message"],
        "properties": {
            "status": {"type": "string", "enum": ["preparing"]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "reason": {"type": "string", "description": "why browsers cannot play the file (container, codecs)"},
            "message": {"type": "string", "description": "for a person: preparing a playable copy… N%"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "videos", "models"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}, "videos": {"type": "integer", "minimum": 0},
                       "models": {"type": "string", "enum": ["loading", "ready", "failed", "on demand"],
                                  "description": "`vidsearch serve` loads the models in the background when it "
                                                 "starts: `loading` until they are, then `ready` (or `failed`, "
                                                 "with the reason in the log); `on demand`: loaded by first use"}},
    },
}

_BINARY = {"schema": {"type": "string", "format": "binary"}}
# by the file's extension: video/*, image/gif (a video format), else application/octet-stream
_STREAM_TYPES = {"video/*": _BINARY, "image/gif": _BINARY, "application/octet-stream": _BINARY}
_VIDEO_ID = {"name": "video_id", "in": "path", "required": True, "schema": {"type": "string"}}
_WRITE_SECURITY = [{}, {"bearer": []}, {"apiKey": []}]  # {}: no key needed when none is configured


_TIME = ("seconds or [HH:]MM:SS of video time, or a wall-clock date-time "
         "(YYYY-MM-DDTHH:MM[:SS][+zone], no zone: the server's local time) for recordings whose start is known")
_CAMERA = {"type": "string", "maxLength": 200, "description": "only recordings of this camera (`vidsearch watch --camera`)"}
_TIME_OF_DAY = {"type": "string", "description": "HH:MM-HH:MM: only moments recorded at this time of day, on any day "
                "(22:00-06:00 wraps midnight), in VIDSEARCH_TIMEZONE; recordings whose start is known"}
_LIKE_FIELDS = {
    "like_video": {"type": "string", "description": "find similar: the video whose stored frames are the query "
                   "(with like_t, or like_start and like_end); nothing is decoded"},
    "like_t": {"type": "string", "description": "find similar: the stored frame at this time (seconds or H:MM:SS)"},
    "like_start": {"type": "string", "description": "find similar: the stored span from this time (a clip query)"},
    "like_end": {"type": "string", "description": "find similar: the stored span to this time"},
}


def _search_params() -> list[dict]:
    """``GET /api/v1/search``: the text or find-similar query and its fields in the query string."""
    def param(name, schema, description=None):
        return {"name": name, "in": "query", "required": False, "schema": schema,
                **({"description": description} if description else {})}
    form = _search_form()["properties"]
    form["image"] = {"type": "string", "pattern": "^[0-9a-f]{16}$",
                     "description": "the picture of an earlier image search (its answer's query_image)"}
    names = ("text", "image", "region", "refine", "limit", "video_id", "camera", "after", "before", "time_of_day",
             "offset", "sort", "include_weak", *_LIKE_FIELDS)
    return [param(n, {k: v for k, v in form[n].items() if k != "description"}, form[n].get("description"))
            for n in names]


def _search_form() -> dict:
    return {
        "type": "object",
        # a blank like_video is no query (the page's form sends the field empty): only a non-blank one counts
        "oneOf": [{"required": ["text"]}, {"required": ["image"]}, {"required": ["clip"]},
                  {"required": ["like_video"], "properties": {"like_video": {"pattern": "\\S"}}}],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 1000,
                     "description": 'free text: "EXIT sign", "a dog on a skateboard", "red car"'},
            "image": {"type": "string", "format": "binary", "description": "the query picture (JPEG, PNG, WebP, ...)"},
            "clip": {"type": "string", "format": "binary", "description": "a video clip: where does its footage appear?"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            "video_id": {"type": "string", "description": "search only this video"},
            "camera": _CAMERA,
            "after": {"type": "string", "description": "only moments after this time: " + _TIME},
            "before": {"type": "string", "description": "only moments before this time"},
            "time_of_day": _TIME_OF_DAY,
            **_LIKE_FIELDS,
            "region": {"type": "string", "description": "x,y,w,h in pixels of the image: search only that part "
                                                        "(images only)"},
            "refine": {"type": "boolean", "description": "images only: re-check the first moment's timestamp "
                       "against the decoded video (more exact); default: the server's VIDSEARCH_IMAGE_REFINE "
                       "(on unless set off)"},
            "offset": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 0,
                       "description": "skip this many results (a next page: the answer's next_offset)"},
            "sort": {"type": "string", "enum": ["score", "time"], "default": "score",
                     "description": "score: best first; time: wall-clock time where known, else video then time"},
            "include_weak": {"type": "boolean", "default": False,
                             "description": "also the results below the no-match floor, marked confidence weak"},
        },
    }


def _search_json() -> dict:
    bound = {"type": ["number", "string", "null"], "minimum": 0,
             "description": "a number: seconds of video time; a string: " + _TIME}
    seconds = {"type": ["number", "string"], "minimum": 0, "description": "seconds (or H:MM:SS) of that video"}
    return {
        "type": "object",
        "oneOf": [{"required": ["text"]}, {"required": ["like"]}],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 1000,
                     "description": 'free text: "EXIT sign", "a dog on a skateboard", "red car"'},
            "like": {"type": "object", "required": ["video_id"],
                     "description": "find similar: a stored frame (t) of an indexed video, searched with its stored "
                                    "descriptor as an image is, or a stored span (start, end), searched as a clip; "
                                    "nothing is decoded or uploaded",
                     "properties": {"video_id": {"type": "string"}, "t": seconds, "start": seconds, "end": seconds}},
            "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 100, "default": 10},
            "video_id": {"type": ["string", "null"], "description": "search only this video"},
            "camera": {**_CAMERA, "type": ["string", "null"]},
            "time_of_day": {**_TIME_OF_DAY, "type": ["string", "null"]},
            "after": {**bound, "description": "only moments after this time; " + bound["description"]},
            "before": {**bound, "description": "only moments before this time; " + bound["description"]},
            "offset": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000, "default": 0,
                       "description": "skip this many results (a next page: the answer's next_offset)"},
            "sort": {"type": ["string", "null"], "enum": ["score", "time", None], "default": "score",
                     "description": "score: best first; time: wall-clock time where known, else video then time"},
            "include_weak": {"type": ["boolean", "null"], "default": False,
                             "description": "also the results below the no-match floor, marked confidence weak"},
        },
    }


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
    return _request_checks({
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
                "parameters": _search_params(),
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
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": _search_form()},
                    "application/json": {"schema": _search_json()},
                }},
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
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["clip"],
                    "properties": {"clip": {"type": "string", "format": "binary"}},
                }}}},
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
                    "requestBody": {"required": True, "content": {
                        "multipart/form-data": {"schema": {
                            "type": "object", "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }},
                        "application/json": {"schema": {
                            "type": "object", "required": ["path"],
                            "properties": {
                                "path": {"type": "string", "minLength": 1, "pattern": "^/[^\u0000]*$",
                                         "description": "absolute path on the server"},
                                "force": {"type": "boolean", "default": False,
                                          "description": "index again even when already indexed"},
                            },
                        }},
                    }},
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
                "parameters": [_VIDEO_ID,
                               {"name": "start", "in": "query", "required": True, "schema": {"type": "string"},
                                "description": "seconds or [H:]MM:SS of video time"},
                               {"name": "end", "in": "query", "required": True, "schema": {"type": "string"},
                                "description": "seconds or [H:]MM:SS, after start, at most the video's duration"}],
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
                "parameters": [_VIDEO_ID,
                               {"name": "t", "in": "query", "required": True, "schema": {"type": "string"},
                                "description": "seconds or [H:]MM:SS of video time, at most the video's duration"}],
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
                    "requestBody": {"required": True, "content": {
                        "multipart/form-data": {"schema": {"type": "object", "required": ["name"], "properties": {
                            "name": {"type": "string"}, "kind": {"enum": ["image", "region", "clip"]},
                            "image": {"type": "string", "format": "binary"},
                            "clip": {"type": "string", "format": "binary"}, "region": {"type": "string"},
                            "threshold": {"type": "string"}, "camera": {"type": "string"},
                            "hours": {"type": "string"}, "webhook": {"type": "string"}}}},
                        "application/json": {"schema": {"type": "object", "required": ["name", "kind"], "properties": {
                            "name": {"type": "string"}, "kind": {"enum": ["text", "examples"]},
                            "text": {"type": "string"}, "examples": {"type": "array", "items": _MOMENT_REF},
                            "negatives": {"type": "array", "items": _MOMENT_REF},
                            "method": {"enum": ["probe", "prototype"]}, "threshold": {"type": "number"},
                            "camera": {"type": "string"}, "hours": {"type": "string"},
                            "webhook": {"type": "string"}}}},
                    }},
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
                           "responses": {"200": _json({"type": "object", "required": ["deleted"],
                                                       "properties": {"deleted": {"type": "string"}}}, "deleted"),
                                         "401": _error("the API key is missing or wrong"),
                                         "404": _error("no such watchlist")}},
            },
            "/api/v1/watchlists/{name}/backtest": {"post": {
                "operationId": "backtestWatchlist",
                "summary": "What the watchlist would have alerted on over what is already indexed",
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "after": {"type": ["number", "string"], "description": "seconds since the epoch or a date-time"},
                        "before": {"type": ["number", "string"]}}}}}},
                "responses": {"200": _json(_ref("Backtest"), "matches and counts per day"),
                              "400": _error("a bad time"), "404": _error("no such watchlist")},
            }},
            "/api/v1/watchlists/{name}/marks": {"post": {
                "operationId": "markWatchlist",
                "summary": "Mark an alert or a backtest match right or wrong; the threshold is re-fitted",
                "security": _WRITE_SECURITY,
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["right"], "properties": {
                        "right": {"type": "boolean"}, "alert_id": {"type": "integer"},
                        "moment": _ref("MarkedMoment")}}}}},
                "responses": {"200": _json(_ref("Watchlist"), "the watchlist, re-fitted"),
                              "400": _error("a bad mark"), "401": _error("the API key is missing or wrong"),
                              "404": _error("no such watchlist")},
            }},
            "/api/v1/alerts": {"get": {
                "operationId": "listAlerts",
                "summary": "Alerts, newest first",
                "parameters": [
                    {"name": "watchlist", "in": "query", "schema": {"type": "string"}},
                    {"name": "since", "in": "query", "schema": {"type": "string"},
                     "description": "seconds since the epoch or a date-time: alerts written since then"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
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
            "schemas": SCHEMAS,
            "responses": {"Error": _json(_ref("Error"), "an error")},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "VIDSEARCH_API_KEY"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "VIDSEARCH_API_KEY"},
            },
        },
    })


@bp.get("/openapi.json")
def openapi_json():
    settings = current_app.extensions["vidsearch.library"].settings
    return jsonify(build_document(settings.max_query_mb, settings.max_upload_mb))
