"""Export over HTTP: a span as an MP4 clip, an instant as a JPEG; and the stream of a video a
browser cannot play, answered by its playable copy."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import make_video
from tests.web.conftest import serving, web_settings


def ffprobe_bytes(data: bytes, tmp_path: Path, name: str = "got.mp4") -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    return json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                                      str(path)], check=True, capture_output=True).stdout)


def test_a_span_from_the_first_keyframe_is_copied(live, tmp_path):
    r = live.request("GET", f"/api/v1/videos/{live.ids['a']}/clip?start=0&end=2")
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "video/mp4" and r.headers["X-Vidsearch-Export"] == "copy"
    assert r.headers["Content-Disposition"] == "attachment; filename=a_0-00-00_to_0-00-02.mp4"
    info = ffprobe_bytes(r.body, tmp_path)
    assert info["streams"][0]["codec_name"] == "h264"
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.2)
    assert list(live.settings.exports_dir.iterdir()) == []  # nothing left behind


def test_a_span_between_keyframes_is_transcoded(live, tmp_path):
    r = live.request("GET", f"/api/v1/videos/{live.ids['a']}/clip?start=0:02.5&end=4")
    assert r.status == 200, r.body
    assert r.headers["X-Vidsearch-Export"] == "transcode"
    assert "filename=a_0-00-02_to_0-00-04.mp4" in r.headers["Content-Disposition"]
    info = ffprobe_bytes(r.body, tmp_path)
    assert float(info["format"]["duration"]) == pytest.approx(1.5, abs=0.1)


def test_a_still_of_an_instant(live):
    r = live.request("GET", f"/api/v1/videos/{live.ids['a']}/frame?t=3")
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "image/jpeg" and r.body[:2] == b"\xff\xd8"
    assert r.headers["X-Vidsearch-Frame-Time"] == "3.000"
    assert r.headers["Content-Disposition"] == "attachment; filename=a_0-00-03.jpg"


@pytest.mark.parametrize("query,code,field", [
    ("clip?end=2", "bad_start", "start"),
    ("clip?start=x&end=2", "bad_start", "start"),
    ("clip?start=1", "bad_end", "end"),
    ("clip?start=2&end=1", "bad_end", "end"),
    ("clip?start=2&end=2", "bad_end", "end"),
    ("clip?start=-1&end=2", "bad_start", "start"),
    ("clip?start=1&end=99", "bad_end", "end"),
    ("clip?start=50&end=60", "bad_start", "start"),
    ("frame", "bad_t", "t"),
    ("frame?t=nan", "bad_t", "t"),
    ("frame?t=6.5", "bad_t", "t"),
    ("frame?t=1:2:3:4", "bad_t", "t"),
])
def test_bad_parameters_name_the_field(live, query, code, field):
    r = live.request("GET", f"/api/v1/videos/{live.ids['a']}/{query}")
    assert r.status == 400, r.body
    assert r.json["error"]["code"] == code and r.json["error"]["message"].startswith(field + ":")


def test_unknown_videos_are_404(live):
    for what in ("clip?start=0&end=1", "frame?t=0"):
        r = live.request("GET", f"/api/v1/videos/nope/{what}")
        assert r.status == 404 and r.json["error"]["code"] == "video_not_found"


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """A server of its own (files are changed under it): spans over 2 s refused; an AVI of MPEG-4
    Part 2 video (browsers play none) and two MP4s."""
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("export")
    videos = {"avi": make_video(tmp / "old.avi", duration=4, codec="mpeg4"),
              "gone": make_video(tmp / "gone.mp4", duration=3, source="smptebars"),
              "changed": make_video(tmp / "changed.mp4", duration=3, source="mandelbrot")}
    lib = Library(web_settings(tmp / "data", VIDSEARCH_MAX_EXPORT_S="2", VIDSEARCH_OCR="0", VIDSEARCH_CONCEPTS="0"))
    try:
        ids = {}
        for name, path in videos.items():
            result = list(lib.ingest([path]))[0]
            assert result.status == "indexed", result.error
            ids[name] = result.video_id
        with serving(lib, videos=videos, ids=ids) as server:
            yield server
    finally:
        lib.close()


def test_a_span_over_the_limit_is_413(own):
    r = own.request("GET", f"/api/v1/videos/{own.ids['gone']}/clip?start=0&end=2.5")
    assert r.status == 413 and r.json["error"]["code"] == "span_too_long"
    assert "VIDSEARCH_MAX_EXPORT_S" in r.json["error"]["message"]


def test_a_deleted_or_changed_file_is_not_exported(own):
    own.videos["gone"].unlink()
    r = own.request("GET", f"/api/v1/videos/{own.ids['gone']}/clip?start=0&end=1")
    assert r.status == 404 and r.json["error"]["code"] == "file_missing"
    make_video(own.videos["changed"], duration=3, source="testsrc")  # other content under the same name
    for what in ("clip?start=0&end=1", "frame?t=1"):
        r = own.request("GET", f"/api/v1/videos/{own.ids['changed']}/{what}")
        assert r.status == 409 and r.json["error"]["code"] == "file_changed"


def test_an_avi_streams_as_its_playable_copy(own, tmp_path):
    url = f"/api/v1/videos/{own.ids['avi']}/stream"
    first = own.request("GET", url)
    assert first.status == 202, first.body
    body = first.json
    assert body["status"] == "preparing" and 0 <= body["progress"] <= 1 and "mpeg4" in body["reason"]
    assert first.headers["Retry-After"] == "1" and "preparing a playable copy" in body["message"]
    deadline = time.monotonic() + 120
    while True:
        r = own.request("GET", url, headers={"Range": "bytes=0-99"})
        if r.status != 202:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert r.status == 206 and len(r.body) == 100 and r.headers["Content-Type"] == "video/mp4"
    whole = own.request("GET", url)
    assert whole.status == 200 and whole.body[:100] == r.body
    size = len(whole.body)
    assert r.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert own.request("GET", url, headers={"Range": f"bytes={size + 10}-"}).status == 416
    info = ffprobe_bytes(whole.body, tmp_path)
    assert info["streams"][0]["codec_name"] == "h264" and info["streams"][0]["pix_fmt"] == "yuv420p"
    copy = own.settings.playable_dir / f"{own.ids['avi']}.mp4"
    assert copy.is_file()
    # the clip of an AVI is a transcode to H.264
    clip = own.request("GET", f"/api/v1/videos/{own.ids['avi']}/clip?start=1&end=2")
    assert clip.status == 200 and clip.headers["X-Vidsearch-Export"] == "transcode"
    assert own.request("DELETE", f"/api/v1/videos/{own.ids['avi']}").status == 200
    assert not copy.exists()  # the copy goes with its video


def test_a_playable_mp4_is_streamed_as_it_is(live):
    r = live.request("GET", f"/api/v1/videos/{live.ids['a']}/stream", headers={"Range": "bytes=0-9"})
    assert r.status == 206 and r.body == live.videos["a"].read_bytes()[:10]


def test_the_cli_exports_through_the_server(live, tmp_path):
    """`vidsearch export` while a server owns the store: the same files, fetched over its API."""
    from vidsearch.remote import RemoteLibrary

    remote = RemoteLibrary(live.settings, live.url)
    result = remote.export_clip(live.ids["a"], 0, 2, tmp_path / "r.mp4")
    assert result.plan.mode == "copy" and float(ffprobe_bytes(result.path.read_bytes(), tmp_path)["format"]["duration"]) > 1.8
    jpeg, stamp = remote.export_frame(live.ids["a"], 3.0)
    assert jpeg[:2] == b"\xff\xd8" and stamp == 3.0
    with pytest.raises(ValueError, match="past the end"):
        remote.export_frame(live.ids["a"], 60)


def test_an_uploaded_avi_gets_its_copy_after_indexing(own, tmp_path):
    """The copy is made in the background once the job has indexed the video, before any play."""
    from web.api.videos import COPIES_KEY

    avi = make_video(tmp_path / "up.avi", duration=3, codec="mpeg4", source="smptehdbars")
    r = own.upload(avi.read_bytes(), "up.avi")
    assert r.status == 202, r.body
    job = own.wait_job(r.json["job_id"])
    assert job["status"] == "done", job
    cache = own.app.extensions[COPIES_KEY]
    vid = job["video_id"]
    assert cache.state(vid).status in ("preparing", "ready")  # nobody asked for the stream yet
    deadline = time.monotonic() + 120
    while cache.state(vid).status == "preparing":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert cache.state(vid).status == "ready"
    assert own.request("GET", f"/api/v1/videos/{vid}/stream", headers={"Range": "bytes=0-3"}).status == 206
