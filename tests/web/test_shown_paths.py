"""Server paths in answers: absolute only for a trusted caller (the local CLI's token, the API key when
one is configured); anyone else sees them relative to an allowed root, or a file name (web/api/schemas.py
``shown_path``)."""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import frame_at, make_video
from tests.web.conftest import serving, web_settings
from tests.web.test_api import TOKEN


def no_server_folders(live, body: bytes, *extra) -> None:
    for folder in (live.videos["a"].parent, live.settings.data_dir, live.settings.allowed_roots[0], *extra):
        assert str(folder).encode() not in body, (str(folder), body[:400])


@pytest.fixture(scope="module")
def in_root(live, tmp_path_factory):
    """``(video_id, path, frame png)`` of a video indexed from ``<root>/cams/north/gate.mp4`` by an anonymous caller."""
    tmp = tmp_path_factory.mktemp("shown")
    src = make_video(tmp / "gate.mp4", source="testsrc=size=160x120:rate=10", duration=2)
    path = live.settings.allowed_roots[0] / "cams" / "north" / "gate.mp4"
    path.parent.mkdir(parents=True)
    shutil.copyfile(src, path)
    r = live.post_json("/api/v1/videos", {"path": str(path)})
    assert r.status == 202, r.body
    job = live.wait_job(r.json["job_id"])
    assert job["status"] == "done" and job["result"]["status"] == "indexed", job
    yield job["video_id"], path, frame_at(src, 1, tmp / "gate_1s.png").read_bytes()
    live.request("DELETE", f"/api/v1/videos/{job['video_id']}")


def test_anonymous_callers_see_paths_relative_to_the_root_or_a_file_name(live, in_root):
    vid, path, frame = in_root
    videos = live.request("GET", "/api/v1/videos")
    shown = {v["id"]: v["path"] for v in videos.json["videos"]}
    assert shown[vid] == "cams/north/gate.mp4"  # under an allowed root: relative to it
    assert shown[live.ids["a"]] == "a.mp4"  # indexed by the local library (anywhere): its name
    no_server_folders(live, videos.body)

    results = live.search(frame, video_id=vid)
    best = results.json["results"][0]
    assert best["path"] == "cams/north/gate.mp4" and best["thumbnail"].startswith(f"thumbnails/{vid}/")
    no_server_folders(live, results.body)

    jobs = live.request("GET", "/api/v1/jobs")  # every job of this server so far, failed ones too
    assert "cams/north/gate.mp4" in {j["path"] for j in jobs.json["jobs"]}
    no_server_folders(live, jobs.body)
    no_server_folders(live, live.request("GET", "/library").body)


def test_the_local_cli_sees_absolute_paths(live, in_root):
    vid, path, frame = in_root
    assert live.request("GET", f"/api/v1/videos/{vid}", headers=TOKEN).json["path"] == str(path)
    best = live.search(frame, video_id=vid, headers=TOKEN).json["results"][0]
    assert best["path"] == str(path) and best["thumbnail"].startswith(str(live.settings.thumbnails_dir))
    jobs = live.request("GET", "/api/v1/jobs", headers=TOKEN).json["jobs"]
    assert str(path) in {j["path"] for j in jobs}


def test_the_api_key_shows_absolute_paths_when_one_is_configured(tmp_path):
    from vidsearch.library import Library

    clip = make_video(tmp_path / "own.mp4", source="smptebars=size=160x120:rate=10", duration=2)
    settings = web_settings(tmp_path / "data", VIDSEARCH_API_KEY="k3y")
    with Library(settings) as lib:
        (result,) = lib.ingest([clip])
        assert result.status == "indexed", result.error
        with serving(lib, local_token="tok") as server:
            url = f"/api/v1/videos/{result.video_id}"
            assert server.request("GET", url).json["path"] == "own.mp4"
            assert server.request("GET", url, headers={"X-API-Key": "wrong"}).json["path"] == "own.mp4"
            for headers in ({"X-API-Key": "k3y"}, {"Authorization": "Bearer k3y"}, {"X-Vidsearch-Token": "tok"}):
                assert server.request("GET", url, headers=headers).json["path"] == str(clip), headers
