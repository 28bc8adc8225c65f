"""A real vidsearch web server (waitress, on a free port) over a temporary library of two videos.

One server per test package run: the models load once and every web test talks plain HTTP to it.
"""
from __future__ import annotations

import http.client
import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import frame_at, make_video

MAX_UPLOAD_MB = 1


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class LiveServer:
    url: str
    host: str
    port: int
    app: object
    settings: object
    videos: dict[str, Path] = field(default_factory=dict)  # name -> file
    ids: dict[str, str] = field(default_factory=dict)  # name -> video id

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 300) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Reply(r.status, r.headers, r.read())
        finally:
            conn.close()

    def post_form(self, path: str, fields: dict[str, str] | None = None,
                  files: dict[str, tuple[str, bytes, str]] | None = None) -> Reply:
        body, ctype = encode_multipart(fields or {}, files or {})
        return self.request("POST", path, body, {"Content-Type": ctype})

    def search(self, image: bytes, name: str = "query.png", **fields) -> Reply:
        return self.post_form("/api/v1/search", {k: str(v) for k, v in fields.items()},
                              {"image": (name, image, "image/png")})

    def ingest(self, path: Path):
        """Ingest through the app's library lock, as a request would use the library."""
        from web.access import EXTENSION_KEY

        with self.app.extensions[EXTENSION_KEY].use() as lib:
            return list(lib.ingest([path]))[0]


def encode_multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, ctype) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n").encode()
        parts.append(head + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="package")
def live(tmp_path_factory) -> LiveServer:
    from vidsearch.config import Settings
    from vidsearch.library import Library
    from web.app import create_app
    from web.server import create_server

    tmp = tmp_path_factory.mktemp("web")
    videos = {
        "a": make_video(tmp / "a.mp4", source="testsrc2", duration=6),
        "b": make_video(tmp / "b.mp4", source="mandelbrot=size=320x240:rate=25,trim=duration=6"),
    }
    frame_at(videos["a"], 3, tmp / "a_3s.png")
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp / "data"), "VIDSEARCH_SEMANTIC": "0"})
    library = Library(settings)
    server = thread = None
    try:
        ids = {}
        for name, path in videos.items():
            result = list(library.ingest([path]))[0]
            assert result.status == "indexed", result.error
            ids[name] = result.video_id
        app = create_app(library, max_upload_mb=MAX_UPLOAD_MB)
        server = create_server(app, host="127.0.0.1", port=0, threads=4, max_upload_mb=MAX_UPLOAD_MB)
        thread = threading.Thread(target=server.run, name="waitress", daemon=True)
        thread.start()
        host, port = server.effective_host, server.effective_port
        yield LiveServer(f"http://{host}:{port}", host, port, app, settings, videos, ids)
    finally:
        if server is not None:
            server.task_dispatcher.shutdown()
            server.close()
        if thread is not None:
            thread.join(10)
        library.close()


@pytest.fixture(scope="package")
def query_png(live) -> bytes:
    """A PNG of the frame at 3 s of video a."""
    return (live.videos["a"].parent / "a_3s.png").read_bytes()
