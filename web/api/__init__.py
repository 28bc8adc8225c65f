"""REST API v1: one module per resource, mounted under ``/api/v1``.

| method | path | answer |
|---|---|---|
| POST | /api/v1/search | ``{"results": [moment + thumbnail_url, stream_url]}`` for text (JSON or form field), an uploaded image or clip, or find similar (``like``) |
| GET | /api/v1/search | the same for text or find similar from the query string (``text=``, ``like_video=&like_t=``), for links |
| POST | /api/v1/dedup | ``{"matches": [match + ref_thumbnail_url, stream_url]}`` for an uploaded clip |
| POST | /api/v1/videos | 202 ``{"video_id", "job_id"}``: a multipart ``file`` upload or JSON ``{"path"}`` (a folder: ``{"jobs": [...]}``) |
| GET | /api/v1/videos | ``{"videos": [video]}`` |
| GET | /api/v1/videos/<id> | one video |
| DELETE | /api/v1/videos/<id> | ``{"deleted": id}`` |
| GET | /api/v1/videos/<id>/stream | the video file, or its browser-playable copy (HTTP Range: 206/416); 202 ``{"status": "preparing", "progress"}`` while that copy is made |
| GET | /api/v1/videos/<id>/clip?start=&end= | the span as an MP4 attachment (stream copy or transcode) |
| GET | /api/v1/videos/<id>/frame?t= | the frame at ``t`` as a JPEG attachment |
| GET | /api/v1/videos/<id>/segments/<index>/thumbnail | the segment's JPEG |
| GET | /api/v1/jobs | ``{"jobs": [job]}``, newest first |
| GET | /api/v1/jobs/<id> | one job: status, progress, error |
| GET/POST | /api/v1/watchlists | watchlists: list, create (multipart image/clip, JSON text/examples); GET/DELETE /<name>; POST /<name>/backtest, /<name>/marks (web/api/watchlists.py) |
| GET | /api/v1/alerts | ``{"alerts": [...]}`` (watchlist, since, limit) |
| GET | /api/v1/openapi.json | the OpenAPI 3.1 description of all of the above |

Write endpoints (POST/DELETE videos) need the API key when one is configured (:mod:`web.auth`).
Before any endpoint, :mod:`web.origin` refuses unknown host names (421) and writes sent by pages of
other origins (403).
"""
from __future__ import annotations

from flask import Blueprint

from web.api import jobs, openapi, search, videos, watchlists

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.register_blueprint(search.bp)
bp.register_blueprint(search.dedup_bp)
bp.register_blueprint(videos.bp)
bp.register_blueprint(jobs.bp)
bp.register_blueprint(watchlists.bp)
bp.register_blueprint(watchlists.alerts_bp)
bp.register_blueprint(openapi.bp)
