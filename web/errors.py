"""Every API error is JSON: ``{"error": {"code": "...", "message": "..."}}``, never a stack trace.

An unknown page that a browser asks for (``Accept`` names ``text/html`` and prefers it to JSON, outside ``/api/`` and
``/healthz``) gets an HTML 404 page with links back instead; clients of the API always get JSON."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# HTTP status -> machine-readable code for errors raised by Flask/Werkzeug themselves.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raise from a handler to answer ``status`` with a JSON error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers: dict[str, str] = {}


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _json_error(status: int, code: str, message: str):
    response = jsonify(error_body(code, message))
    response.status_code = status
    return response


def wants_page() -> bool:
    """A browser asking for a page (not the API, not a client that prefers JSON)."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return False
    if "text/html" not in request.headers.get("Accept", ""):  # browsers name it; curl's */* gets JSON
        return False
    accept = request.accept_mimetypes
    return accept.quality("text/html") >= accept.quality("application/json")


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        response = _json_error(exc.status, exc.code, exc.message)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        if status < 400:  # routing redirects (e.g. a missing trailing slash) stay redirects
            return exc
        if status == 404 and wants_page():
            return render_template("404.html", path=request.path), 404
        response = exc.get_response()  # keeps headers such as Allow (405) and Content-Range (416)
        message = exc.description or exc.name
        if status == 413:
            limit = request.max_content_length if request else app.config.get("MAX_CONTENT_LENGTH")
            if limit:
                message = f"upload larger than the limit of {limit / 2**20:g} MiB"
        response.data = jsonify(error_body(_CODES.get(status, exc.name.lower().replace(" ", "_")), message)).data
        response.content_type = "application/json"
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        try:
            from vidsearch.models import ModelUnavailable
        except Exception:  # the models package itself is broken: still answer JSON
            ModelUnavailable = ()
        if ModelUnavailable and isinstance(exc, ModelUnavailable):
            log.error("model unavailable: %s", exc)
            return _json_error(503, "model_unavailable", str(exc))
        log.exception("unhandled error")
        return _json_error(500, "internal_error", "internal server error (see the server log)")
