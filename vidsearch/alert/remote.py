"""The watchlists of a running server, through its API (``/api/v1/watchlists``, ``/api/v1/alerts``).

:class:`RemoteWatchlists` offers what ``vidsearch watchlist`` and ``vidsearch alerts`` call on
:class:`~vidsearch.alert.service.Watchlists`, so the commands print the same while ``vidsearch
serve`` owns the data folder (:mod:`vidsearch.remote`). Watchlists come back as the API describes
them (dicts, what :meth:`Watchlists.describe` gives); alerts as :class:`Alert` records. The API's
errors become the local ones: an unknown name a ``KeyError``, a refused field a
:class:`WatchlistError`.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

from vidsearch.alert.watchlist import Alert, WatchlistError

_ALERT_FIELDS = {f.name for f in fields(Alert)}


class RemoteWatchlists:
    def __init__(self, remote) -> None:
        self.remote = remote  # a vidsearch.remote.RemoteLibrary

    def _ask(self, name: str | None, method: str, path: str, **kw) -> dict:
        from vidsearch.remote import ApiAnswer

        try:
            if "obj" in kw:
                return self.remote._json(method, path, kw["obj"])
            return self.remote._call(method, path, kw.get("body"), kw.get("content_type"))
        except ApiAnswer as exc:
            if exc.code == "watchlist_not_found" and name is not None:
                raise KeyError(name) from None
            if exc.status in (400, 409, 413, 415):
                field = exc.code[4:] if exc.code.startswith("bad_") else exc.code
                raise WatchlistError(field, str(exc).split(": ", 1)[-1]) from None
            raise

    @staticmethod
    def _path(name: str, *rest: str) -> str:
        return "/".join(["/api/v1/watchlists", urllib.parse.quote(name, safe=""), *rest])

    def add(self, name: str, kind: str, *, image=None, region=None, clip=None, text=None, examples=None,
            negatives=None, threshold=None, camera=None, hours=None, webhook=None, method: str = "probe"):
        """The watchlist made (``name``, ``kind``, ``threshold`` as attributes); a picture or a clip
        is uploaded, the rest sent as JSON."""
        from vidsearch.remote import _multipart, _read

        common = {"name": name, "threshold": threshold, "camera": camera, "hours": hours, "webhook": webhook}
        if kind in ("image", "region", "clip"):
            file = Path(image if kind != "clip" else clip)
            form = {k: str(v) for k, v in {**common, "kind": kind, "region": ",".join(map(str, region)) if region
                                           else None}.items() if v is not None}
            body, ctype = _multipart({"clip" if kind == "clip" else "image":
                                      (file.name, _read(file), "application/octet-stream")}, form)
            d = self._ask(None, "POST", "/api/v1/watchlists", body=body, content_type=ctype)
        else:
            d = self._ask(None, "POST", "/api/v1/watchlists",
                          obj={**common, "kind": kind, "text": text, "examples": examples, "negatives": negatives,
                               "method": method})
        return SimpleNamespace(**d)

    def list(self) -> list[dict]:
        return self._ask(None, "GET", "/api/v1/watchlists")["watchlists"]

    @staticmethod
    def describe(d: dict) -> dict:
        return d

    def remove(self, name: str) -> bool:
        try:
            self._ask(name, "DELETE", self._path(name))
        except KeyError:
            return False
        return True

    def mark(self, name: str, *, right: bool, alert_id: int | None = None, moment: dict | None = None) -> dict:
        body = {"right": right, **({"alert_id": alert_id} if alert_id is not None else {"moment": moment})}
        return self._ask(name, "POST", self._path(name, "marks"), obj=body)

    def backtest(self, name: str, *, after: float | None = None, before: float | None = None) -> dict:
        body = {k: v for k, v in (("after", after), ("before", before)) if v is not None}
        return self._ask(name, "POST", self._path(name, "backtest"), obj=body)

    def alerts(self, *, watchlist: str | None = None, since: float | None = None, limit: int = 100) -> list[Alert]:
        query = {k: v for k, v in (("watchlist", watchlist), ("since", since), ("limit", min(limit, 1000)))
                 if v is not None}
        answer = self._ask(watchlist, "GET", "/api/v1/alerts?" + urllib.parse.urlencode(query))
        return [Alert(**{k: v for k, v in a.items() if k in _ALERT_FIELDS}) for a in answer["alerts"]]
