"""Bad requests beyond schemathesis (issue 7, items 3, 4 and 6), over real HTTP to a real waitress
server: oversized and slow uploads, path traversal and symlink escapes, unknown ids, malformed
JSON and HTTP, a low disk, and the fuzzed media corpus through the upload endpoint. Every answer is
a 4xx with a JSON ``{"error": {"code", "message"}}``: never a 5xx, a stack trace or a byte of a
file outside the allowed roots.
"""
from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import make_video
from tests.web.conftest import MAX_UPLOAD_MB, Reply, encode_multipart, serving, web_settings
from tests.web.test_api import assert_json_error

SECRET = Path("/etc/passwd")  # a file outside every allowed root that the tests try to reach
LEAKS = (b"Traceback", b'File "/', b"root:x:0:0", b"werkzeug", b"site-packages")


def clean_4xx(reply: Reply, status: int | tuple[int, ...] | None = None, code: str | None = None) -> dict:
    """A 4xx JSON error that leaks nothing."""
    statuses = (status,) if isinstance(status, int) else status
    assert 400 <= reply.status < 500 and (statuses is None or reply.status in statuses), (reply.status, reply.body[:300])
    for leak in LEAKS:
        assert leak not in reply.body, (leak, reply.body[:300])
    return assert_json_error(reply, reply.status, code)


def raw_exchange(live, data: bytes, *, timeout: float = 30) -> bytes:
    """Send raw bytes on a fresh connection, reading the answer meanwhile (the server may answer
    and close before it has read everything); everything it answered until it closed."""
    with socket.create_connection((live.host, live.port), timeout=timeout) as s:
        def send():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:  # the server answered and closed first
                pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        sender.join(timeout)
    assert chunks, "the server closed the connection without an answer"
    return b"".join(chunks)


def parse(raw: bytes) -> Reply:
    import http.client
    import io

    class _Sock:
        def makefile(self, *_a, **_k):
            return io.BytesIO(raw)

    r = http.client.HTTPResponse(_Sock())
    r.begin()
    return Reply(r.status, r.headers, r.read())


# -- oversized ------------------------------------------------------------------------------
def test_a_body_over_the_upload_limit_is_a_json_413_at_every_layer(live):
    # just over the app's limit: Flask's 413 (JSON)
    clean_4xx(live.upload(b"\0" * (MAX_UPLOAD_MB * 2**20 + 10)), 413, "payload_too_large")
    # far over: waitress refuses from the Content-Length alone, before any body is sent
    head = (f"POST /api/v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {50 * 2**30}\r\n\r\n").encode()
    t0 = time.monotonic()
    r = parse(raw_exchange(live, head))
    clean_4xx(r, 413, "payload_too_large")
    assert time.monotonic() - t0 < 5
    # chunked, with no length announced: counted as it arrives, refused past waitress's limit
    chunk = b"\0" * 2**20
    limit = int(1.25 * MAX_UPLOAD_MB * 2**20) + 2**20  # web.server.create_server's
    pieces = [chunk] * (limit // len(chunk)) + [b"\0" * (limit % len(chunk) + 1024)]  # 1 KiB over it
    body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    head = b"POST /api/v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n" \
           b"Transfer-Encoding: chunked\r\n\r\n"
    clean_4xx(parse(raw_exchange(live, head + body)), 413, "payload_too_large")
    # a JSON body over its own 1 MiB limit
    clean_4xx(live.post_json("/api/v1/videos", {"path": "/x" * 2**20}), 413, "payload_too_large")
    assert not list(live.settings.uploads_dir.glob(".part-*"))


# -- malformed requests ----------------------------------------------------------------------
@pytest.mark.parametrize("body", [b'{"path": ', b"{'path': '/x'}", b"null", b"[]", b'"/etc/passwd"', b"\xff\xfe\x00",
                                  b'{"path": 7}', b'{"path": ["/a"]}', b'{"path": "/a", "force": "yes"}', b"{}",
                                  b'{"path": "/a\\u0000b"}', b'{"path": ""}'])
def test_malformed_json_is_400(live, body):
    r = live.request("POST", "/api/v1/videos", body, {"Content-Type": "application/json"})
    clean_4xx(r, 400)


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /api/v1/videos HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    b"POST /api/v1/videos HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /api/v1/videos HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n",
])
def test_malformed_http_gets_a_json_4xx(live, raw):
    clean_4xx(parse(raw_exchange(live, raw)))


def test_a_multipart_body_without_a_file_or_with_a_broken_boundary_is_4xx(live):
    clean_4xx(live.post_form("/api/v1/videos", {"x": "1"}), 400, "no_file")
    r = live.request("POST", "/api/v1/videos", b"--nope\r\nrubbish", {"Content-Type": "multipart/form-data; boundary=b"})
    clean_4xx(r, 400)
    clean_4xx(live.request("POST", "/api/v1/videos", b"x", {"Content-Type": "text/plain"}), 415)


# -- paths, traversal, symlinks ----------------------------------------------------------------
def test_path_traversal_is_refused_and_reads_nothing(live):
    media = live.settings.allowed_roots[0]
    for path, status in [("../../etc/passwd", 400), ("etc/passwd", 400), ("/etc/passwd", 403), ("/", 403),
                         (f"{media}/../../../../etc/passwd", 403), (f"{media}/./../secret.mp4", 403),
                         (f"{media}/%2e%2e/%2e%2e/etc/passwd", 404), ("//etc/passwd", 403),
                         (f"{media}/\u2025/passwd", 404), (str(SECRET) + "\x00.mp4", 400)]:
        err = clean_4xx(live.post_json("/api/v1/videos", {"path": path}), status)
        assert "root:x" not in err["message"], path
    assert live.request("GET", "/api/v1/jobs").json["jobs"] == [] or all(
        not j["path"].startswith("/etc") for j in live.request("GET", "/api/v1/jobs").json["jobs"])


def test_url_encoded_dots_in_stream_and_thumbnail_urls_are_404(live):
    vid = live.ids["a"]
    for url in ["/api/v1/videos/..%2F..%2F..%2Fetc%2Fpasswd/stream", "/api/v1/videos/%2e%2e/stream",
                "/api/v1/videos/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/api/v1/videos/..%252F..%252Fetc/stream",
                f"/api/v1/videos/{vid}/segments/..%2F..%2Fetc%2Fpasswd/thumbnail",
                f"/api/v1/videos/{vid}/segments/%2e%2e/thumbnail", f"/api/v1/videos/{vid}/segments/-1/thumbnail",
                f"/api/v1/videos/{vid}/segments/99999/thumbnail", "/api/v1/videos/%00/stream",
                "/api/v1/videos/" + "a" * 5000, "/static/..%2F..%2F..%2Fetc%2Fpasswd", "/static/%2e%2e/app.py"]:
        r = live.request("GET", url)
        clean_4xx(r, 404)
        assert b"root:x" not in r.body, url


def test_symlinks_that_lead_out_of_the_roots_are_refused(live, tmp_path):
    media = live.settings.allowed_roots[0]
    folder = media / "escapes"
    folder.mkdir(exist_ok=True)
    outside = make_video(tmp_path / "outside.mp4", duration=1)
    links = {"passwd.mp4": SECRET, "outside.mp4": outside, "etc": Path("/etc"), "up": media.parent}
    for name, target in links.items():
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(target, target_is_directory=target.is_dir())
    try:
        for name in ("passwd.mp4", "outside.mp4", "etc", "up"):
            err = clean_4xx(live.post_json("/api/v1/videos", {"path": str(folder / name)}), 403, "path_not_allowed")
            assert "symbolic link" in err["message"]
        clean_4xx(live.post_json("/api/v1/videos", {"path": str(folder / "etc" / "passwd")}), 403)
        clean_4xx(live.post_json("/api/v1/videos", {"path": str(folder / "up" / "a.mp4")}), 403)
        # the folder itself: its only files are links that lead out; none is queued
        err = clean_4xx(live.post_json("/api/v1/videos", {"path": str(folder)}), 400, "no_videos")
        assert "outside the allowed roots were skipped" in err["message"]
    finally:
        for name in links:
            (folder / name).unlink(missing_ok=True)


def test_a_thumbnail_symlinked_out_of_the_data_folder_is_not_served(live):
    vid = live.ids["a"]
    link = live.settings.thumbnails_dir / vid / "00777.jpg"
    link.symlink_to(SECRET)
    try:
        r = live.request("GET", f"/api/v1/videos/{vid}/segments/777/thumbnail")
        clean_4xx(r, 404, "thumbnail_not_found")
    finally:
        link.unlink()


# -- unknown ids -------------------------------------------------------------------------------
def test_unknown_ids_are_404(live):
    for method, url in [("GET", "/api/v1/videos/ffffffffffffffff"), ("DELETE", "/api/v1/videos/ffffffffffffffff"),
                        ("GET", "/api/v1/videos/ffffffffffffffff/stream"),
                        ("GET", "/api/v1/videos/ffffffffffffffff/segments/0/thumbnail"),
                        ("GET", "/api/v1/jobs/no-such-job"), ("GET", "/api/v1/jobs/" + "9" * 400),
                        ("GET", "/api/v1/nothing-here"), ("GET", "/api/v2/videos")]:
        headers = {"X-Vidsearch-Token": "local-test-token"} if method == "DELETE" else {}
        clean_4xx(live.request(method, url, headers=headers), 404)
    clean_4xx(live.request("PUT", "/api/v1/videos"), 405)


# -- slow uploads ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    """A server with 2 request threads whose connections time out after 2 s of silence."""
    from vidsearch.library import Library
    from web.app import create_app, jobs_of
    from web.server import create_server

    tmp = tmp_path_factory.mktemp("impatient")
    with Library(web_settings(tmp / "data")) as lib:
        app = create_app(lib)
        server = create_server(app, host="127.0.0.1", port=0, threads=2, channel_timeout=2, cleanup_interval=1)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            from tests.web.conftest import LiveServer

            yield LiveServer(f"http://127.0.0.1:{server.effective_port}", "127.0.0.1", server.effective_port, app,
                             lib.settings)
        finally:
            jobs_of(app).stop()
            server.task_dispatcher.shutdown()
            server.close()
            thread.join(10)


def test_slow_uploads_block_no_one_and_a_stalled_one_times_out(impatient):
    body, ctype = encode_multipart({}, {"file": ("slow.mp4", b"\0" * 200_000, "video/mp4")})
    head = (f"POST /api/v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    trickles = []
    for _ in range(6):  # more slow clients than the server has threads
        s = socket.create_connection((impatient.host, impatient.port), timeout=30)
        s.sendall(head + body[:100])
        trickles.append(s)
    stop = threading.Event()

    def trickle():
        sent = 100
        while not stop.is_set() and sent < 2000:
            for s in trickles:
                try:
                    s.sendall(body[sent : sent + 10])
                except OSError:
                    pass
            sent += 10
            time.sleep(0.5)  # a byte rate well inside the 2 s silence limit

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            assert impatient.request("GET", "/healthz", timeout=10).status == 200
            assert impatient.request("GET", "/api/v1/videos", timeout=10).status == 200
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.1)
        assert worst < 2.0, worst
        for s in trickles:  # still being read: the trickle keeps them alive
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)
            s.setblocking(True)
    finally:
        stop.set()
        t.join(5)
    # now they stall: the server closes each one within channel_timeout + cleanup_interval (+ slack)
    t0 = time.monotonic()
    for s in trickles:
        s.settimeout(15)
        assert s.recv(65536) == b""  # closed by the server, no answer sent for a body never completed
        s.close()
    waited = time.monotonic() - t0
    assert waited < 8, waited
    assert impatient.request("GET", "/healthz").status == 200
    assert not list(impatient.settings.uploads_dir.glob("**/*")) if impatient.settings.uploads_dir.exists() else True


# -- low disk ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    """A server whose free-space reserve cannot be met: every write is refused."""
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("fulldisk")
    (tmp / "media").mkdir()
    make_video(tmp / "media" / "clip.mp4", duration=2)
    settings = web_settings(tmp / "data", VIDSEARCH_MIN_FREE_MB=str(2**40), VIDSEARCH_ALLOWED_ROOTS=str(tmp / "media"))
    with Library(settings) as lib, serving(lib) as server:
        yield server


def test_a_low_disk_refuses_uploads_and_path_ingests_with_507(full_disk):
    clip = full_disk.settings.allowed_roots[0] / "clip.mp4"
    r = full_disk.upload(clip.read_bytes(), name="clip.mp4")
    assert_json_error(r, 507, "insufficient_storage")
    for path in (clip, clip.parent):
        r = full_disk.post_json("/api/v1/videos", {"path": str(path)})
        msg = assert_json_error(r, 507, "insufficient_storage")["message"]
        assert "VIDSEARCH_MIN_FREE_MB" in msg and "MiB free" in msg
    assert full_disk.request("GET", "/api/v1/jobs").json["jobs"] == []
    assert full_disk.request("GET", "/api/v1/videos").json["videos"] == []
    uploads = full_disk.settings.uploads_dir
    assert not uploads.exists() or not [p for p in uploads.rglob("*") if p.is_file()]


# -- the fuzzed media corpus through the upload endpoint ---------------------------------------
def test_bad_media_uploads_get_a_4xx_or_a_clear_failed_job(live, tmp_path, query_png):
    from tests.media.corpus import build_corpus

    cases = [c for c in build_corpus(tmp_path / "corpus") if c.path.is_file() and not c.path.is_symlink()
             and c.path.stat().st_size < MAX_UPLOAD_MB * 2**20 and c.path.name != "hour-one-keyframe.mp4"]
    rng = random.Random(11)
    kinds = sorted({c.kind for c in cases})
    picked = [c for kind in kinds for c in rng.sample([c for c in cases if c.kind == kind],
                                                      min(3, sum(c.kind == kind for c in cases)))]
    before = live.search(query_png).json["results"][0]
    answers, jobs = {}, []
    for c in picked:
        r = live.upload(c.path.read_bytes(), name=c.path.name)
        answers[c.path.name] = r.status
        if r.status == 202:
            jobs.append((c, r.json["job_id"]))
        else:
            err = clean_4xx(r, (400, 415))
            assert err["message"].startswith(f"{c.path.name}: ") or c.path.stat().st_size == 0, err
            # the upload endpoint takes no stills: a one-frame video is refused as one (web/uploads.py)
            assert c.expect != "ok" or "a still picture" in err["message"], (c.path.name, err)
    indexed = []
    for c, job_id in jobs:
        job = live.wait_job(job_id, timeout=120)
        if job["status"] == "failed":
            assert job["error"] and "internal error" not in job["error"] and ": " in job["error"], job
        else:
            indexed.append(job["video_id"])
    assert all(s < 500 for s in answers.values()), answers
    assert live.request("GET", "/healthz").status == 200
    assert live.search(query_png).json["results"][0] == before  # what was indexed before is unharmed
    for vid in set(indexed):
        live.request("DELETE", f"/api/v1/videos/{vid}", headers={"X-Vidsearch-Token": "local-test-token"})
    refused = sum(s != 202 for s in answers.values())
    print(f"\nuploads of bad media: {len(picked)} files over {len(kinds)} kinds, {refused} refused (4xx), "
          f"{len(jobs)} accepted ({len(indexed)} indexed, {len(jobs) - len(indexed)} failed jobs), 0 5xx")
