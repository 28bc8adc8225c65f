"""The Flask application factory.

``create_app(library)`` wires one opened :class:`vidsearch.library.Library` into the app. The app
never opens or closes it (``web.server.serve`` does), and it serialises every library call with
one lock (see :mod:`web.access`), because the library is not known to be thread-safe while the
WSGI server runs requests on a thread pool. Nothing heavy happens here: the encoders load on the
first search.
"""
from __future__ import annotations

from flask import Flask, jsonify

from web import errors, pages
from web.access import EXTENSION_KEY, SerialLibrary, library

DEFAULT_MAX_UPLOAD_MB = 32

_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def create_app(library_, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> Flask:
    from web import api  # here, not at module level, so that importing web.app stays light

    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=int(max_upload_mb * 2**20),  # larger uploads answer 413
        PROPAGATE_EXCEPTIONS=False,
    )
    app.json.sort_keys = False
    app.extensions[EXTENSION_KEY] = SerialLibrary(library_)

    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    errors.register(app)

    @app.get("/healthz")
    def healthz():
        with library().use() as lib:
            count = len(lib.videos())
        return jsonify({"status": "ok", "videos": count})

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", _CSP)
        return response

    return app
