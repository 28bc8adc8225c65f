"""Answer only this server's own host names, and take writes only from this server's own pages.

Two checks before every request (docs/reliability.md, "Hostile use (issue 13): origins and hosts"):

- ``Host``: ``localhost``, any IP address, the host the server binds (``vidsearch serve --host``)
  and the names in ``VIDSEARCH_ALLOWED_HOSTS`` (``.example.org``: it and its subdomains; ``*``:
  any). Another name is 421 ``bad_host``: a page whose DNS name an attacker points at this server
  (DNS rebinding) would otherwise read and write through the visitor's browser as a same-origin
  page. An IP address is always accepted: a browser sends one only for a page loaded from that
  address, which DNS cannot rebind.
- Any method but GET, HEAD and OPTIONS, on every endpoint (uploads, deletes, and searches too:
  this API sends no CORS headers, so no other site can read a search's answer, and a search it
  sends blind only costs this server CPU): a browser's ``Sec-Fetch-Site`` must be ``same-origin``
  (or ``none``: the user's own navigation), and without it the ``Origin`` must be this server
  (the request's ``Host``, or a name in ``VIDSEARCH_ALLOWED_HOSTS``). Otherwise 403
  ``cross_origin``, before the body is read. A request with neither header (curl, the CLI,
  scripts) is not a browser acting for a web page, and passes.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import Flask, request

from web.errors import ApiError

SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
LOCAL_NAMES = frozenset(("localhost",))
WILDCARD_BINDS = frozenset(("", "0.0.0.0", "::"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(authority: str) -> tuple[str, int | None] | None:
    """``host[:port]`` as (lower-case host without brackets or trailing dot, port or None); None
    when malformed."""
    if not authority or any(c in authority for c in "/?#@\\ \t"):
        return None
    try:
        parts = urlsplit("//" + authority)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip("."), port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostPolicy:
    """The host names a server answers to (see the module docstring)."""

    def __init__(self, allowed: tuple[str, ...] = (), bind_host: str | None = None) -> None:
        self.any = "*" in allowed
        self.configured = tuple(name.rstrip(".") for name in allowed if name != "*")
        names = set(LOCAL_NAMES)
        if bind_host and bind_host not in WILDCARD_BINDS:
            names.add(bind_host.strip("[]").lower().rstrip("."))
        self.names = frozenset(names)

    def _configured(self, host: str) -> bool:
        return any(host == name or (name.startswith(".") and (host == name[1:] or host.endswith(name)))
                   for name in self.configured)

    def host_allowed(self, host: str) -> bool:
        return self.any or host in self.names or _is_ip(host) or self._configured(host)

    def origin_allowed(self, origin: str, request_host: tuple[str, int | None] | None) -> bool:
        """``Origin`` is this server: the request's own host and port, or a configured public name
        (a reverse proxy may rewrite ``Host``, and its port is not this server's)."""
        scheme, sep, authority = origin.partition("://")
        if not sep or scheme.lower() not in _DEFAULT_PORTS:
            return False  # "null" (sandboxed frames, file: pages, opaque redirects) among others
        parsed = _split(authority)
        if parsed is None:
            return False
        host, port = parsed
        if port == _DEFAULT_PORTS[scheme.lower()]:
            port = None
        if request_host is not None:
            own_host, own_port = request_host
            if own_port in (80, 443):
                own_port = None
            if (host, port) == (own_host, own_port):
                return True
        return self._configured(host)


def check_request(policy: HostPolicy) -> None:
    raw_host = request.environ.get("HTTP_HOST")
    parsed = _split(raw_host) if raw_host is not None else None
    if raw_host is not None and not policy.any and (parsed is None or not policy.host_allowed(parsed[0])):
        raise ApiError(421, "bad_host",
                       f"this server does not answer to the host name {raw_host[:100]!r}: set VIDSEARCH_ALLOWED_HOSTS "
                       f"to the name clients use (e.g. the public name behind a reverse proxy)")
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site.strip().lower() in ("same-origin", "none"):
            return  # set by the browser itself: no page can forge it
        raise ApiError(403, "cross_origin",
                       f"refused: a request sent by a page of another site (Sec-Fetch-Site: {site[:40]}); "
                       f"use this server's own pages, or a client that is not a browser")
    origin = request.headers.get("Origin")
    if origin is not None and not policy.origin_allowed(origin.strip(), parsed):
        raise ApiError(403, "cross_origin",
                       f"refused: a request sent by a page of another origin ({origin[:100]}); "
                       f"use this server's own pages, or a client that is not a browser")


def register(app: Flask, allowed: tuple[str, ...], bind_host: str | None) -> HostPolicy:
    """Check every request of ``app`` (first of its ``before_request`` functions)."""
    policy = HostPolicy(allowed, bind_host)
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: check_request(policy))
    return policy
