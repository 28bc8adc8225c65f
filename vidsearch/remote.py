"""The CLI through a running server, as the docker CLI talks to its daemon.

While ``vidsearch serve`` owns the embedded store, a second process cannot open it
(:class:`~vidsearch.index.lock.StoreLocked`). The server advertises itself in ``server.json`` in the
data folder (URL, pid, and a token that proves the reader can read that folder); the CLI then
works through the server's REST API with :class:`RemoteLibrary`, which offers the methods of
:class:`~vidsearch.library.Library` that the commands use and returns the same records, so every
command prints exactly what it prints without a server.

Plain ``urllib``: no extra dependency. Files named on the command line are read by the server
where they are (the token lets it ingest paths outside ``VIDSEARCH_ALLOWED_ROOTS``); query images
and clips are uploaded.
"""
from __future__ import annotations

import io
import json
import logging
import os
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Callable, Iterable

from vidsearch.catalog import VideoRecord
from vidsearch.config import Settings
from vidsearch.index.lock import StoreLocked
from vidsearch.records import Match, Moment
from vidsearch.search.moment import Moments

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Vidsearch-Token"
POLL_S = 0.25
TIMEOUT_S = 600.0  # one request (a search loads the models on first use)
_URL_KEYS = ("thumbnail_url", "stream_url")


class RemoteError(RuntimeError):
    """The server could not be reached, or answered with an error the command cannot express."""


class ApiAnswer(RemoteError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def server_info(settings: Settings) -> dict | None:
    """What ``server.json`` says, when it exists and names a live process."""
    try:
        info = json.loads(settings.server_info_path.read_text())
        pid, url = int(info["pid"]), str(info["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a server that died without cleaning up
    except PermissionError:
        pass  # alive, another user's
    return {**info, "pid": pid, "url": url}


def connect(settings: Settings, locked: StoreLocked) -> "RemoteLibrary":
    """The server that owns the store, or ``locked`` re-raised when there is none to talk to."""
    info = server_info(settings)
    if info is None:
        raise locked
    remote = RemoteLibrary(settings, info["url"], info.get("token"))
    try:
        remote.health()
    except RemoteError as exc:
        raise StoreLocked(locked.folder, locked.pid, detail=f"its server at {info['url']} does not answer: {exc}") from None
    log.info("the data folder is owned by the server at %s (pid %s): working through its API", info["url"], info["pid"])
    return remote


def _multipart(files: dict[str, tuple[str, bytes, str]], fields_: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields_.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, ctype) in files.items():
        safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{safe}"\r\n'
                  f"Content-Type: {ctype}\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _form_fields(**kw) -> dict[str, str]:
    out = {}
    for key, value in kw.items():
        if value is None:
            continue
        if key == "region":
            out[key] = ",".join(str(int(v)) for v in value)
        else:
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class RemoteLibrary:
    """The subset of :class:`~vidsearch.library.Library` that the CLI uses, over HTTP."""

    def __init__(self, settings: Settings, url: str, token: str | None = None) -> None:
        self.settings = settings
        self.url = url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers[TOKEN_HEADER] = token
        if settings.api_key:
            self._headers["X-API-Key"] = settings.api_key

    def __enter__(self) -> "RemoteLibrary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    # -- HTTP ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
              timeout: float = TIMEOUT_S) -> dict:
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                err = json.loads(raw)["error"]
                code, message = str(err["code"]), str(err["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", f"the server answered {exc.code} {exc.reason}"
            raise ApiAnswer(exc.code, code, message) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(f"cannot reach the vidsearch server at {self.url}: {reason}") from None

    def _bytes(self, path: str) -> tuple[bytes, dict]:
        """GET ``path``: the body and headers of a 200 answer; errors as :meth:`_call` raises them."""
        req = urllib.request.Request(self.url + path, method="GET", headers=dict(self._headers, Accept="*/*"))
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
                return r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())["error"]
                code, message = str(err["code"]), str(err["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", f"the server answered {exc.code} {exc.reason}"
            if exc.code in (400, 404, 409, 413):
                raise ValueError(message) from None
            raise ApiAnswer(exc.code, code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise RemoteError(f"cannot reach the vidsearch server at {self.url}: {getattr(exc, 'reason', exc)}") from None

    def _json(self, method: str, path: str, obj) -> dict:
        return self._call(method, path, json.dumps(obj).encode(), "application/json")

    @property
    def watchlists(self):
        """The server's watchlists and alerts (:class:`vidsearch.alert.remote.RemoteWatchlists`)."""
        from vidsearch.alert.remote import RemoteWatchlists

        return RemoteWatchlists(self)

    def health(self) -> dict:
        return self._call("GET", "/healthz", timeout=10)

    # -- ingest ----------------------------------------------------------------------------
    def ingest(self, paths: Iterable[str | Path], *, force: bool = False,
               progress: Callable[[Path], Callable[[float, float], None] | None] | None = None):
        from vidsearch.ingest.runner import IngestResult

        for p in paths:
            path = os.path.abspath(os.path.expanduser(str(p)))
            try:
                answer = self._json("POST", "/api/v1/videos", {"path": path, "force": bool(force)})
            except ApiAnswer as exc:
                if exc.code == "no_videos":
                    continue  # a folder without videos: nothing to report, as a local ingest
                if exc.code == "path_not_found":  # the runner's words for a missing file
                    yield IngestResult(path, "failed", error=f"{path}: No such file or directory")
                    continue
                if exc.code == "bad_path":
                    yield IngestResult(path, "failed", error=f"{path}: {exc}")
                    continue
                raise
            for job in answer.get("jobs") or [{**answer, "path": path}]:
                yield self._follow(job["job_id"], job["path"], progress, IngestResult)

    def _follow(self, job_id: str, path: str, progress, result_class):
        update, duration = None, 0.0
        if progress is not None:
            update = progress(Path(path))
            try:
                from vidsearch.media import probe

                duration = probe(path).duration
            except Exception:  # only for the progress bar
                duration = 0.0
        while True:
            job = self._call("GET", f"/api/v1/jobs/{job_id}")
            if update is not None and duration > 0 and job["status"] in ("running", "done"):
                update(job["progress"] * duration, duration)
            if job["status"] in ("done", "failed"):
                break
            time.sleep(POLL_S)
        if job.get("result"):
            return result_class(**job["result"])
        return result_class(job["path"], "failed", video_id=job.get("video_id"), error=job.get("error"))

    # -- queries ---------------------------------------------------------------------------
    @staticmethod
    def _moment(d: dict) -> Moment:
        core = {f.name for f in fields(Moment)} - {"extra"}
        extra = {k: v for k, v in d.items() if k not in core and k not in _URL_KEYS}
        return Moment(**{k: d[k] for k in core if k in d}, extra=extra)

    @staticmethod
    def where(*, camera: str | None = None, wall_after: float | None = None, wall_before: float | None = None,
              time_of_day: tuple[float, float] | None = None) -> dict:
        """As :meth:`vidsearch.library.Library.where`, as the API's fields: the server turns them into
        the store's filters (its own VIDSEARCH_TIMEZONE reads the time of day)."""
        def clock(s: float) -> str:
            s = int(s)
            return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"

        out = {"camera": camera, "after": None if wall_after is None else _iso(wall_after),
               "before": None if wall_before is None else _iso(wall_before),
               "time_of_day": None if time_of_day is None else f"{clock(time_of_day[0])}-{clock(time_of_day[1])}"}
        return {k: v for k, v in out.items() if v is not None}

    @staticmethod
    def _scoped(form: dict) -> dict:
        """``where`` (from :meth:`where`) merged into the fields; a bound given twice is refused."""
        where = form.pop("where", None) or {}
        for name in ("after", "before"):
            if name in where and form.get(name) is not None:
                raise ValueError(f"give {name} either in video time or as a date-time, not both")
        return {**form, **where}

    def _search(self, files: dict, **form) -> list[Moment]:
        body, ctype = _multipart(files, _form_fields(**self._scoped(form)))
        return self._results(lambda: self._call("POST", "/api/v1/search", body, ctype))

    def _results(self, ask) -> Moments:
        """The moments of a search answer; errors as a local search reports them."""
        try:
            answer = ask()
        except ApiAnswer as exc:
            if exc.code == "video_not_found":
                return Moments()  # as a local search filtered to an unknown video
            if exc.status in (400, 413, 415):
                raise ValueError(str(exc)) from None
            raise
        return Moments([self._moment(m) for m in answer["results"]], weak=answer.get("weak", 0),
                       next_offset=answer.get("next_offset"))

    def search_image(self, image, *, limit: int = 10, video_id: str | None = None, after: float | None = None,
                     before: float | None = None, region=None, refine: bool | None = None, **page) -> Moments:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")  # lossless: the server sees the same pixels
        return self._search({"image": ("query.png", buf.getvalue(), "image/png")}, limit=limit, video_id=video_id,
                            after=after, before=before, region=region, refine=refine, **page)

    def search_text(self, text: str, *, limit: int = 10, video_id: str | None = None, after: float | None = None,
                    before: float | None = None, wall_after: float | None = None,
                    wall_before: float | None = None, where: dict | None = None, **page) -> Moments:
        """``POST /api/v1/search`` with JSON ``{"text": ...}``. Video-time bounds go as seconds; a
        wall-clock bound (seconds since the epoch) as an ISO date-time with its zone, which the
        server parses as the CLI does, so both run the same query."""
        for name, video, wall in (("after", after, wall_after), ("before", before, wall_before)):
            if video is not None and wall is not None:
                raise ValueError(f"give {name} either in video time or as a date-time, not both")
        body = {"text": text, "limit": min(int(limit), 100), "video_id": video_id,
                "after": _iso(wall_after) if wall_after is not None else after,
                "before": _iso(wall_before) if wall_before is not None else before, **page}
        body = self._scoped({**body, "where": where})
        return self._results(lambda: self._json("POST", "/api/v1/search", {k: v for k, v in body.items() if v is not None}))

    def search_clip(self, path: str | Path, *, limit: int = 10, **kw) -> Moments:
        """``kw``: video_id, after, before, offset, include_weak, sort."""
        path = Path(path)
        return self._search({"clip": (path.name, _read(path), "application/octet-stream")}, limit=min(limit, 100), **kw)

    def dedup_clip(self, path: str | Path) -> list[Match]:
        path = Path(path)
        body, ctype = _multipart({"clip": (path.name, _read(path), "application/octet-stream")}, {})
        try:
            answer = self._call("POST", "/api/v1/dedup", body, ctype)
        except ApiAnswer as exc:
            if exc.status in (400, 413, 415):
                raise ValueError(str(exc)) from None
            raise
        names = {f.name for f in fields(Match)}
        return [Match(**{k: v for k, v in m.items() if k in names}) for m in answer["matches"]]

    def dedup_all(self, **kw):
        raise RemoteError("dedup --all needs the data folder itself: stop the server first")

    # -- videos ----------------------------------------------------------------------------
    def videos(self) -> list[VideoRecord]:
        names = {f.name for f in fields(VideoRecord)}
        return [VideoRecord(**{k: v for k, v in d.items() if k in names}) for d in self._call("GET", "/api/v1/videos")["videos"]]

    def video(self, video_id: str) -> VideoRecord | None:
        names = {f.name for f in fields(VideoRecord)}
        try:
            d = self._call("GET", f"/api/v1/videos/{urllib.request.quote(video_id, safe='')}")
        except ApiAnswer as exc:
            if exc.status == 404:
                return None
            raise
        return VideoRecord(**{k: v for k, v in d.items() if k in names})

    def export_clip(self, video_id: str, start: float, end: float, out: str | Path):
        """``GET /api/v1/videos/<id>/clip``, written to ``out`` (through a temporary name)."""
        from vidsearch.library import check_export_span
        from vidsearch.media.export import ClipPlan, ClipResult

        check_export_span(start, end, self.settings.max_export_s)
        began = time.monotonic()
        vid = urllib.request.quote(video_id, safe="")
        data, headers = self._bytes(f"/api/v1/videos/{vid}/clip?start={start!r}&end={end!r}")
        out = Path(out)
        tmp = out.with_name(f".{out.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, out)
        first = float(headers.get("X-Vidsearch-Clip-Start", start))
        plan = ClipPlan(headers.get("X-Vidsearch-Export", "transcode"), first, end, first, "by the server", None)
        return ClipResult(out, plan, time.monotonic() - began)

    def export_frame(self, video_id: str, t: float) -> tuple[bytes, float]:
        vid = urllib.request.quote(video_id, safe="")
        data, headers = self._bytes(f"/api/v1/videos/{vid}/frame?t={t!r}")
        return data, float(headers.get("X-Vidsearch-Frame-Time", t))

    def delete(self, video_id: str) -> bool:
        try:
            self._call("DELETE", f"/api/v1/videos/{urllib.request.quote(video_id, safe='')}")
        except ApiAnswer as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _iso(epoch: float) -> str:
    """Seconds since the epoch as an ISO-8601 date-time in UTC (microseconds kept)."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _read(path: Path) -> bytes:
    from vidsearch.media import MediaError

    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MediaError(path, "no such file") from None
    except OSError as exc:
        raise MediaError(path, exc.strerror or str(exc)) from None
