"""Server-rendered pages: search, dedup, library and watchlists (plain HTML + a little JS each)."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from web.access import library
from web.api.schemas import video_json

bp = Blueprint("pages", __name__)


@bp.get("/")
def search_page():
    return render_template("search.html", active="search", max_export_s=library().settings.max_export_s)


@bp.get("/dedup")
def dedup_page():
    return render_template("dedup.html", active="dedup")


@bp.get("/library")
def library_page():
    with library().use() as lib:
        videos = [video_json(v) for v in lib.videos()]  # paths as this caller may see them
    settings = library().settings
    return render_template("library.html", active="library", videos=videos,
                           api_key_required=bool(settings.api_key), max_upload_mb=settings.max_upload_mb,
                           max_upload_bytes=current_app.config["VIDSEARCH_MAX_UPLOAD"])


@bp.get("/watchlists")
def watchlists_page():
    return render_template("watchlists.html", active="watchlists", api_key_required=bool(library().settings.api_key))
