"""Run the web UI and REST API under waitress, a production WSGI server.

``serve`` opens ONE :class:`~vidsearch.library.Library` for the life of the server (with the
embedded store it holds the data folder's owner lock, so ``vidsearch ingest`` in another process
cannot open the store while the server runs), advertises itself in ``server.json`` in the data
folder (URL, pid and a token, so that the CLI can work through it: :mod:`vidsearch.remote`),
sweeps the upload folder (:func:`web.uploads.sweep_uploads`: parts of uploads cut off by a kill,
uploads that nothing refers to), queues interrupted ingest jobs again, serves until Ctrl+C or SIGTERM, then stops the ingest thread,
removes ``server.json`` and closes the library. With ``VIDSEARCH_BROKER_URL`` it also runs the
owner loop of distributed ingestion (:mod:`workers.owner`): it writes the Celery workers' results
into the embedded store it owns and keeps the catalog in step with the jobs in Redis.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import waitress
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from web.app import MODELS_KEY, copies_of, create_app, jobs_of

log = logging.getLogger(__name__)


_CODES = {400: "bad_request", 408: "request_timeout", 413: "payload_too_large", 431: "request_header_fields_too_large"}


class JsonErrorTask(ErrorTask):
    """waitress's own refusals (a body over ``max_request_body_size``, a malformed request line or
    chunk, headers too large) as the API's JSON error instead of waitress's plain text."""

    def execute(self):
        e = self.request.error
        self.status = f"{e.code} {e.reason}"
        code = _CODES.get(e.code, e.reason.lower().replace(" ", "_"))
        message = f"{e.reason}: {e.body}" if e.body else e.reason
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def create_server(app, *, host: str = "127.0.0.1", port: int = 8000, threads: int = 8, **adjustments):
    """A waitress server for ``app``, bound but not running: call ``.run()``, then ``.close()``.

    Waitress spools each request body before the app sees it; bodies over an endpoint's limit get
    the app's JSON 413, and waitress itself refuses bodies over 1.25 times the largest limit
    (JSON 413 too, from :class:`JsonErrorTask`) so that an oversized upload never fills the disk.
    Bodies are read by waitress's event loop, not by the request threads, so a client that trickles
    its upload holds no thread; a connection silent for ``channel_timeout`` seconds (waitress's
    default: 120, checked every ``cleanup_interval`` = 30 s) is closed. ``adjustments``: further
    waitress settings (tests shorten the timeouts).
    """
    largest = app.config["MAX_CONTENT_LENGTH"]
    server = waitress.create_server(
        app, host=host, port=port, threads=threads, ident="vidsearch",
        max_request_body_size=int(1.25 * largest) + 2**20, **adjustments,
    )
    for each in [server, *getattr(server, "map", {}).values()]:  # a MultiSocketServer holds several
        if getattr(each, "channel_class", None) is HTTPChannel:
            each.channel_class = JsonErrorChannel
    return server


def listen_urls(server) -> list[str]:
    """``http://host:port/`` for every socket the server listens on (port 0 resolved)."""
    pairs = getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)]
    return [f"http://[{h}]:{p}/" if ":" in str(h) else f"http://{h}:{p}/" for h, p in pairs]


def _local_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def write_server_info(path: Path, server, token: str) -> dict:
    """Advertise a running server in the data folder (mode 0600: the token is a credential)."""
    host, port = _local_host(str(server.effective_host)), int(server.effective_port)
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    info = {"url": url, "host": host, "port": port, "pid": os.getpid(), "token": token}
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)
    return info


def remove_server_info(path: Path) -> None:
    """Remove ``server.json`` when it is still this process's."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


@contextmanager
def _sigterm_stops():
    """Turn SIGTERM into KeyboardInterrupt so the library is closed (lock released) on `kill`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warm_up(library, app) -> None:
    """Load the models (``/healthz`` says ``models: loading``, then ``ready``)."""
    t0 = time.perf_counter()
    try:
        library.encoders.warm_up()
    except Exception as exc:  # a model that cannot load says so again, clearly, when it is used
        app.config[MODELS_KEY] = "failed"
        log.warning("loading the models at start failed: %s", exc)
        return
    app.config[MODELS_KEY] = "ready"
    log.info("models loaded in %.1f s", time.perf_counter() - t0)


def sweep_upload_folder(library, jobs) -> tuple[int, int]:
    """Remove leftover upload parts and uploads that no catalog record and no queued job refers to.
    Everything of the kind goes when this process owns the data folder and the upload folder is in
    it (no other server writes there); otherwise only what has been untouched for a while."""
    from web.uploads import STALE_S, sweep_uploads

    settings = library.settings
    uploads = settings.uploads_dir
    owner = library.owns_folder and uploads.resolve().is_relative_to(settings.data_dir.resolve())
    in_use = [r.path for r in library.videos()] + [j.path for j in jobs.list() if j.active]
    files, size = sweep_uploads(uploads, in_use, stale_after=0 if owner else STALE_S)
    if files:
        log.info("removed %d leftover upload file(s), %.1f MB, from %s", files, size / 1e6, uploads)
    return files, size


def sweep_exports(folder: Path, older_than_s: float = 3600.0) -> None:
    """Remove clips that a killed server left half-written or unsent in the exports folder (each is
    removed once it is opened for sending; none takes an hour)."""
    now = time.time()
    for path in Path(folder).glob("*"):
        try:
            if path.is_file() and not path.is_symlink() and now - path.stat().st_mtime > older_than_s:
                path.unlink()
        except OSError:
            pass


def serve(settings, host: str = "127.0.0.1", port: int = 8000, threads: int = 8) -> None:
    from vidsearch.library import Library

    jobs = None
    if settings.broker_url:  # the Celery workers' job records (imported only then)
        from workers.owner import library_jobs

        jobs = library_jobs(settings)
    library = Library(settings, jobs=jobs)
    server = app = owner = None
    info_path = settings.server_info_path
    try:
        token = secrets.token_urlsafe(32)
        app = create_app(library, local_token=token, bind_host=host)
        server = create_server(app, host=host, port=port, threads=threads)
        write_server_info(info_path, server, token)
        # load the models now, in the background: the first search or ingest would otherwise load
        # them while holding up the requests around it (seconds of imports and session set-up)
        app.config[MODELS_KEY] = "loading"
        threading.Thread(target=_warm_up, args=(library, app), name="vidsearch-warm-up", daemon=True).start()
        sweep_upload_folder(library, jobs_of(app))
        copies_of(app).sweep({r.id for r in library.videos()})  # copies of videos deleted meanwhile
        sweep_exports(settings.exports_dir)
        if settings.qdrant_url is None:  # this process owns the data folder: finish what was interrupted
            jobs_of(app).resume()
        if settings.broker_url:  # Celery workers: write their results (embedded store), sync the catalog
            from workers.owner import OwnerLoop

            def check(video_id: str, access=app.extensions["vidsearch.library"]) -> None:
                with access.use() as lib:  # the watchlists check what the workers finished
                    if getattr(lib, "watchlists", None) is not None:
                        lib.watchlists.on_indexed(video_id)

            owner = OwnerLoop(settings, library.store if settings.qdrant_url is None else None,
                              on_indexed=check).start()
        low = library.disk_warning()
        if low:
            log.warning("%s", low)
            print(f"vidsearch: {low}", flush=True)
        urls = ", ".join(listen_urls(server))
        with _sigterm_stops():  # before the URL is printed: a SIGTERM right after it stops cleanly
            try:
                print(f"vidsearch: serving {settings.data_dir} at {urls}  (Ctrl+C to stop)", flush=True)
                server.run()
            except KeyboardInterrupt:
                pass
    finally:
        if server is not None:
            server.close()
        if app is not None:
            jobs_of(app).stop()
            copies_of(app).stop()
        if owner is not None:
            owner.stop()
        remove_server_info(info_path)
        library.close()
        print("vidsearch: server stopped", flush=True)
