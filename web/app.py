"""The Flask application factory.

``create_app(library)`` wires one opened :class:`vidsearch.library.Library` into the app and takes
every web setting from ``library.settings`` (upload limits, API key, allowed roots, upload folder:
see :mod:`vidsearch.config`). The app never opens or closes the library (``web.server.serve``
does), and it serialises every library call with one lock (see :mod:`web.access`), because the
library is not known to be thread-safe while the WSGI server runs requests on a thread pool.
Background ingestion has its own thread (:mod:`web.jobs`), started by the first job; whoever runs
the app calls ``jobs_of(app).stop()`` before closing the library. Nothing heavy happens here: the
encoders load on the first search.
"""
from __future__ import annotations

import threading
from functools import partial

from flask import Flask, jsonify

from web import errors, origin, pages
from web.access import EXTENSION_KEY, SerialLibrary, library
from web.auth import API_KEY_CONFIG, TOKEN_CONFIG
from web.jobs import JobQueue
from web.json_provider import StrictJSONProvider
from web.uploads import UploadRequest, remove_upload

_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _bytes(mib: float) -> int:
    return int(mib * 2**20)


def create_app(library_, *, local_token: str | None = None, bind_host: str | None = None) -> Flask:
    """``local_token``: the secret that ``serve`` writes into ``server.json`` for the local CLI;
    ``bind_host``: the address the server listens on, one of the host names it answers to
    (:mod:`web.origin`)."""
    from web import api  # here, not at module level, so that importing web.app stays light
    from web.api.search import IMAGE_SLOTS_KEY
    from vidsearch.copies import PlayableCopies
    from web.api.videos import COPIES_KEY, EXPORT_SLOTS_KEY, JOBS_KEY, prepare_playable

    settings = library_.settings
    app = Flask(__name__)
    app.request_class = UploadRequest
    app.config.update(
        # the largest body any endpoint takes; each endpoint lowers it for itself (413 JSON above it)
        MAX_CONTENT_LENGTH=max(_bytes(settings.max_upload_mb), _bytes(settings.max_query_mb)),
        VIDSEARCH_MAX_UPLOAD=_bytes(settings.max_upload_mb),
        VIDSEARCH_MAX_QUERY=_bytes(settings.max_query_mb),
        PROPAGATE_EXCEPTIONS=False,
    )
    app.config[API_KEY_CONFIG] = settings.api_key
    app.config[TOKEN_CONFIG] = local_token
    app.json = StrictJSONProvider(app)  # request JSON must be valid Unicode
    app.json.sort_keys = False
    serial = SerialLibrary(library_)
    app.extensions[EXTENSION_KEY] = serial
    app.extensions[IMAGE_SLOTS_KEY] = threading.BoundedSemaphore(settings.image_decodes)  # query pictures at once
    # browser-playable copies of the videos browsers cannot play (vidsearch/copies.py), clips cut at once
    app.extensions[COPIES_KEY] = PlayableCopies(settings.playable_dir, budget_mb=settings.playable_budget_mb,
                                                min_free_mb=settings.min_free_mb)
    app.extensions[EXPORT_SLOTS_KEY] = threading.BoundedSemaphore(2)
    app.extensions[JOBS_KEY] = JobQueue(serial, remove_upload=partial(remove_upload, uploads_dir=settings.uploads_dir),
                                        on_indexed=partial(prepare_playable, app))

    origin.register(app, settings.allowed_hosts, bind_host)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    errors.register(app)

    @app.get("/healthz")
    def healthz():
        with library().use() as lib:
            count = len(lib.videos())
        return jsonify({"status": "ok", "videos": count, "models": app.config.get(MODELS_KEY, "on demand")})

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", _CSP)
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


MODELS_KEY = "VIDSEARCH_MODELS"  # app.config: "loading" | "ready" | "failed" while/after serve() warms up


def copies_of(app: Flask):
    """The app's playable-copy cache (:class:`vidsearch.copies.PlayableCopies`): ``stop()`` it with the jobs."""
    from web.api.videos import COPIES_KEY

    return app.extensions[COPIES_KEY]


def jobs_of(app: Flask) -> JobQueue:
    from web.api.videos import JOBS_KEY

    return app.extensions[JOBS_KEY]
