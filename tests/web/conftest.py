"""A real vidsearch web server (waitress, on a free port) over a temporary library of two videos.

One server per test package run: the models load once and every web test talks plain HTTP to it.
``serving(settings)`` starts further servers (e.g. one with an API key) over their own data folder.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import frame_at, make_video

MAX_QUERY_MB = 1  # image uploads (search)
MAX_UPLOAD_MB = 4  # video uploads


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
                  files: dict[str, tuple[str, bytes, str]] | None = None, headers: dict | None = None) -> Reply:
        body, ctype = encode_multipart(fields or {}, files or {})
        return self.request("POST", path, body, {"Content-Type": ctype, **(headers or {})})

    def search(self, image: bytes, name: str = "query.png", headers: dict | None = None, **fields) -> Reply:
        return self.post_form("/api/v1/search", {k: str(v) for k, v in fields.items()},
                              {"image": (name, image, "image/png")}, headers)

    def post_json(self, path: str, obj, headers: dict | None = None) -> Reply:
        return self.request("POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    def upload(self, data: bytes, name: str = "clip.mp4", headers: dict | None = None) -> Reply:
        body, ctype = encode_multipart({}, {"file": (name, data, "video/mp4")})
        return self.request("POST", "/api/v1/videos", body, {"Content-Type": ctype, **(headers or {})})

    def wait_job(self, job_id: str, timeout: float = 300, headers: dict | None = None) -> dict:
        """Poll ``GET /api/v1/jobs/<id>`` until the job has finished; every answer must be valid."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.request("GET", f"/api/v1/jobs/{job_id}", headers=headers)
            assert r.status == 200, r.body
            job = r.json
            assert job["status"] in ("queued", "running", "done", "failed") and 0 <= job["progress"] <= 1
            if job["status"] in ("done", "failed"):
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout} s"
            time.sleep(0.2)

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


def web_settings(data_dir: Path, **env: str):
    """Settings of a test server: small upload limits, no free-disk reserve, semantic vectors off."""
    from vidsearch.config import Settings

    base = {"VIDSEARCH_DATA_DIR": str(data_dir), "VIDSEARCH_SEMANTIC": "0", "VIDSEARCH_MAX_QUERY_MB": str(MAX_QUERY_MB),
            "VIDSEARCH_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB), "VIDSEARCH_MIN_FREE_MB": "0"}
    return Settings.from_env({**base, **env})


@contextmanager
def serving(library, *, local_token: str | None = None, videos=None, ids=None):
    """Serve ``library`` with waitress on a free port in a thread; stop the jobs and the server after."""
    from web.app import copies_of, create_app, jobs_of
    from web.server import create_server

    app = create_app(library, local_token=local_token, bind_host="127.0.0.1")
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:  # closed from this thread below while its loop waited in select(): EBADF
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, name="waitress", daemon=True)
    thread.start()
    try:
        host, port = server.effective_host, server.effective_port
        yield LiveServer(f"http://{host}:{port}", host, port, app, library.settings, videos or {}, ids or {})
    finally:
        jobs_of(app).stop()
        copies_of(app).stop()
        server.task_dispatcher.shutdown()
        closing.set()
        server.close()
        thread.join(10)


@pytest.fixture(scope="package")
def live(tmp_path_factory) -> LiveServer:
    """Videos a and b indexed; path ingestion allowed under ``<tmp>/media``."""
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("web")
    videos = {
        "a": make_video(tmp / "a.mp4", source="testsrc2", duration=6),
        "b": make_video(tmp / "b.mp4", source="mandelbrot=size=320x240:rate=25,trim=duration=6"),
    }
    frame_at(videos["a"], 3, tmp / "a_3s.png")
    (tmp / "media").mkdir()
    settings = web_settings(tmp / "data", VIDSEARCH_ALLOWED_ROOTS=str(tmp / "media"))
    library = Library(settings)
    try:
        ids = {}
        for name, path in videos.items():
            result = list(library.ingest([path]))[0]
            assert result.status == "indexed", result.error
            ids[name] = result.video_id
        with serving(library, local_token="local-test-token", videos=videos, ids=ids) as server:
            yield server
    finally:
        library.close()


@pytest.fixture(scope="package")
def query_png(live) -> bytes:
    """A PNG of the frame at 3 s of video a."""
    return (live.videos["a"].parent / "a_3s.png").read_bytes()


WALL = 1_700_000_000.0  # the recording start (Unix time) of the text server's "exit" video


def sign_video(path: Path, scenes: list[tuple[str, str | None]], seconds: float = 4.0) -> Path:
    """Scenes of ``seconds`` each: a lavfi colour or source, with a word drawn large in the middle
    (ffmpeg drawtext) or none. Skips the test when ffmpeg cannot draw text here."""
    import subprocess

    from tests.conftest import _need_ffmpeg

    cmd = [_need_ffmpeg(), "-v", "error", "-y"]
    graph = ""
    for i, (src, word) in enumerate(scenes):
        cmd += ["-f", "lavfi", "-i", f"{src}size=320x240:rate=25:duration={seconds}"]
        draw = (f",drawtext=text='{word}':fontcolor=white:fontsize=72:x=(w-text_w)/2:y=(h-text_h)/2"
                if word else "")
        graph += f"[{i}:v]format=yuv420p,setsar=1{draw}[v{i}];"
    graph += "".join(f"[v{i}]" for i in range(len(scenes))) + f"concat=n={len(scenes)}:v=1:a=0[out]"
    cmd += ["-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", str(path)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        pytest.skip("ffmpeg cannot draw text here (no drawtext or no font)")
    return path


@pytest.fixture(scope="package")
def text_live(tmp_path_factory) -> LiveServer:
    """A server for text search: video ``exit`` (navy 0-4 s, "EXIT" on green 4-8 s, a test pattern
    8-12 s; recorded at WALL) and video ``open`` ("OPEN" on dark blue, 4 s), indexed with the
    default text signals (concept vectors and on-screen text)."""
    import shutil

    if shutil.which("tesseract") is None:
        pytest.skip("tesseract-ocr is not installed (scripts/install installs it)")
    pytest.importorskip("sentence_transformers")
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("webtext")
    videos = {
        "exit": sign_video(tmp / "exit.mp4", [("color=c=navy:", None), ("color=c=darkgreen:", "EXIT"),
                                              ("testsrc2=", None)]),
        "open": sign_video(tmp / "open.mp4", [("color=c=darkblue:", "OPEN")]),
    }
    frame_at(videos["exit"], 6, tmp / "exit_6s.png")
    library = Library(web_settings(tmp / "data", VIDSEARCH_SEMANTIC="1"))
    try:
        ids = {}
        for name, path in videos.items():
            result = library.runner.ingest_file(path, wall_start=WALL if name == "exit" else None)
            assert result.status == "indexed", result.error
            ids[name] = result.video_id
        with serving(library, local_token="text-test-token", videos=videos, ids=ids) as server:
            yield server
    finally:
        library.close()
