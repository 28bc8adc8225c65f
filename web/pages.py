"""Server-rendered pages: the search page and the library page (plain HTML + a little JS)."""
from __future__ import annotations

from flask import Blueprint, render_template

from web.access import library

bp = Blueprint("pages", __name__)


@bp.get("/")
def search_page():
    return render_template("search.html", active="search")


@bp.get("/library")
def library_page():
    with library().use() as lib:
        videos = lib.videos()
    return render_template("library.html", active="library", videos=videos)
