"""REST API v1: one module per resource, mounted under ``/api/v1``.

| method | path | answer |
|---|---|---|
| POST | /api/v1/search | ``{"results": [moment + thumbnail_url, stream_url]}`` for an uploaded image |
| GET | /api/v1/videos | ``{"videos": [video]}`` |
| GET | /api/v1/videos/<id> | one video |
| DELETE | /api/v1/videos/<id> | ``{"deleted": id}`` |
| GET | /api/v1/videos/<id>/stream | the video file (HTTP Range: 206/416) |
| GET | /api/v1/videos/<id>/segments/<index>/thumbnail | the segment's JPEG |
"""
from __future__ import annotations

from flask import Blueprint

from web.api import search, videos

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.register_blueprint(search.bp)
bp.register_blueprint(videos.bp)
