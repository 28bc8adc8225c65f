"""Run the web UI and REST API under waitress, a production WSGI server.

``serve`` opens ONE :class:`~vidsearch.library.Library` for the life of the server (with the
embedded store it holds the data folder's owner lock, so ``vidsearch ingest`` in another process
is refused while the server runs), serves until Ctrl+C or SIGTERM, then closes the library.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

import waitress

from web.app import DEFAULT_MAX_UPLOAD_MB, create_app


def create_server(app, *, host: str = "127.0.0.1", port: int = 8000, threads: int = 8,
                  max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB):
    """A waitress server for ``app``, bound but not running: call ``.run()``, then ``.close()``.

    Waitress spools each request body before the app sees it; bodies over the upload limit get
    the app's JSON 413, and waitress itself refuses bodies over twice the limit (plain-text 413)
    so that an oversized upload never fills the disk.
    """
    return waitress.create_server(
        app, host=host, port=port, threads=threads, ident="vidsearch",
        max_request_body_size=int(2 * max_upload_mb * 2**20) + 2**20,
    )


def listen_urls(server) -> list[str]:
    """``http://host:port/`` for every socket the server listens on (port 0 resolved)."""
    pairs = getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)]
    return [f"http://[{h}]:{p}/" if ":" in str(h) else f"http://{h}:{p}/" for h, p in pairs]


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


def serve(settings, host: str = "127.0.0.1", port: int = 8000, threads: int = 8,
          max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> None:
    from vidsearch.library import Library

    library = Library(settings)
    server = None
    try:
        app = create_app(library, max_upload_mb=max_upload_mb)
        server = create_server(app, host=host, port=port, threads=threads, max_upload_mb=max_upload_mb)
        urls = ", ".join(listen_urls(server))
        print(f"vidsearch: serving {settings.data_dir} at {urls}  (Ctrl+C to stop)", flush=True)
        with _sigterm_stops():
            try:
                server.run()
            except KeyboardInterrupt:
                pass
    finally:
        if server is not None:
            server.close()
        library.close()
        print("vidsearch: server stopped", flush=True)
