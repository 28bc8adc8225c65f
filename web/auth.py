"""Who may write: the optional API key (``VIDSEARCH_API_KEY``) and the local CLI's token.

With an API key configured, every write endpoint (``POST /api/v1/videos``, ``DELETE
/api/v1/videos/<id>``) needs ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; without one it
answers 401 JSON. Reads (search, listing, streaming) stay open. Without a key, writes are open too
(except to pages of other web sites: :mod:`web.origin`), so bind to 127.0.0.1 or put a reverse
proxy with authentication in front.

``vidsearch serve`` also writes a random token into ``server.json`` in the data folder (mode 0600).
The ``vidsearch`` CLI on the same machine sends it as ``X-Vidsearch-Token``: whoever can read the
data folder could open the library directly, so the token counts as a key, and it lets the CLI
ingest files outside ``VIDSEARCH_ALLOWED_ROOTS`` (its own files, as ``vidsearch ingest`` does).

Only a trusted caller (:func:`trusted_caller`: the token, or the API key when one is configured) is
shown absolute server paths; everyone else sees them relative to an allowed root, or a file name.
"""
from __future__ import annotations

import functools
import hmac

from flask import current_app, request

from web.errors import ApiError

TOKEN_HEADER = "X-Vidsearch-Token"
API_KEY_CONFIG = "VIDSEARCH_API_KEY"
TOKEN_CONFIG = "VIDSEARCH_LOCAL_TOKEN"


def _same(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def local_client() -> bool:
    """The request carries the local CLI's token."""
    return _same(request.headers.get(TOKEN_HEADER), current_app.config.get(TOKEN_CONFIG))


def trusted_caller() -> bool:
    """The request carries the local CLI's token, or the API key when one is configured: such a caller
    is shown absolute server paths (see :func:`web.api.schemas.shown_path`)."""
    key = current_app.config.get(API_KEY_CONFIG)
    return local_client() or (bool(key) and _same(_given_key(), key))


def _given_key() -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key")


def check_write() -> None:
    key = current_app.config.get(API_KEY_CONFIG)
    if not key or local_client() or _same(_given_key(), key):
        return
    err = ApiError(401, "unauthorized",
                   "this endpoint needs the API key: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    err.headers = {"WWW-Authenticate": 'Bearer realm="vidsearch"'}
    raise err


def write_endpoint(view):
    """Decorate a view that changes the library."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        check_write()
        return view(*args, **kwargs)

    return wrapper
