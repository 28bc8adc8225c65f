"""Adding videos through the API: uploads and server paths, background jobs, the API key, deletion.

Everything goes over real HTTP to a real waitress server (see conftest.py) with real video files.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import frame_at, make_video
from tests.web.conftest import MAX_UPLOAD_MB, serving, web_settings
from tests.web.test_api import assert_json_error

TOKEN = {"X-Vidsearch-Token": "local-test-token"}


def uploads_dir(live) -> Path:
    return live.settings.uploads_dir


def stored_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def media(live) -> Path:
    return live.settings.allowed_roots[0]


# -- uploads -------------------------------------------------------------------------------
def test_an_upload_is_indexed_in_the_background_under_a_generated_name(live, tmp_path):
    clip = make_video(tmp_path / "clip.mp4", source="smptebars", duration=3)
    r = live.upload(clip.read_bytes(), name="../../etc/my holiday; rm -rf.mp4")
    assert r.status == 202, r.body
    body = r.json
    assert set(body) == {"video_id", "job_id"} and body["video_id"]
    assert r.headers["Location"] == f"/api/v1/jobs/{body['job_id']}"

    job = live.wait_job(body["job_id"])
    assert job["status"] == "done" and job["error"] is None and job["progress"] == 1.0, job
    assert job["video_id"] == body["video_id"] and job["finished_at"] >= job["created_at"]
    assert job["result"]["status"] == "indexed" and job["result"]["keyframes"] > 0

    video = live.request("GET", f"/api/v1/videos/{body['video_id']}", headers=TOKEN).json
    assert video["status"] == "indexed"
    stored = Path(video["path"])
    assert live.request("GET", f"/api/v1/videos/{body['video_id']}").json["path"] == stored.name  # no folders
    root = uploads_dir(live).resolve()
    assert stored.parent.parent == root  # <uploads>/<generated folder>/<sanitised name>
    assert stored.name == "etc_my_holiday_rm_-rf.mp4"
    assert stored.read_bytes() == clip.read_bytes()
    assert not list(root.glob(".part-*"))  # the temporary part is gone

    frame = frame_at(clip, 1.5, tmp_path / "f.png").read_bytes()
    assert live.search(frame).json["results"][0]["video_id"] == body["video_id"]

    r = live.request("DELETE", f"/api/v1/videos/{body['video_id']}")
    assert r.status == 200
    assert not stored.exists() and not stored.parent.exists()  # the server's copy goes with the video


def test_the_same_footage_uploaded_twice_is_kept_once(live, tmp_path):
    clip = make_video(tmp_path / "twice.mp4", source="rgbtestsrc", duration=2)
    first = live.upload(clip.read_bytes(), name="one.mp4").json
    assert live.wait_job(first["job_id"])["status"] == "done"
    second = live.upload(clip.read_bytes(), name="two.mp4").json
    assert second["video_id"] == first["video_id"]
    job = live.wait_job(second["job_id"])
    assert job["status"] == "done" and job["result"]["status"] == "skipped"
    names = [p.name for p in stored_files(uploads_dir(live))]
    assert "one.mp4" in names and "two.mp4" not in names
    assert live.request("DELETE", f"/api/v1/videos/{first['video_id']}").status == 200


def test_an_upload_that_is_not_a_video_is_415_and_leaves_nothing(live):
    before = stored_files(uploads_dir(live))
    err = assert_json_error(live.upload(b"just some text, no video at all" * 100, name="notes.mp4"), 415,
                            "unsupported_media_type")
    assert err["message"].startswith("notes.mp4: ")
    assert str(uploads_dir(live)) not in err["message"]  # the server's paths are not shown
    assert stored_files(uploads_dir(live)) == before


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(live):
    before = stored_files(uploads_dir(live))
    err = assert_json_error(live.upload(b"\0" * (MAX_UPLOAD_MB * 2**20 + 1)), 413, "payload_too_large")
    assert f"{MAX_UPLOAD_MB} MiB" in err["message"]
    assert stored_files(uploads_dir(live)) == before


def test_malformed_add_requests(live):
    assert_json_error(live.post_form("/api/v1/videos", {"name": "x"}), 400, "no_file")
    assert_json_error(live.request("POST", "/api/v1/videos", b"hello", {"Content-Type": "text/plain"}), 415)
    assert_json_error(live.post_json("/api/v1/videos", {"file": "x"}), 400, "bad_request")
    assert_json_error(live.post_json("/api/v1/videos", ["/x"]), 400, "bad_request")
    assert_json_error(live.post_json("/api/v1/videos", {"path": 5}), 400, "bad_path")
    assert_json_error(live.post_json("/api/v1/videos", {"path": "relative/a.mp4"}), 400, "bad_path")


# -- server paths --------------------------------------------------------------------------
def test_a_file_under_an_allowed_root_is_ingested(live, tmp_path):
    path = make_video(media(live) / "cam7.mp4", source="testsrc", duration=3)
    r = live.post_json("/api/v1/videos", {"path": str(path)})
    assert r.status == 202, r.body
    job = live.wait_job(r.json["job_id"])
    assert job["status"] == "done" and job["result"]["status"] == "indexed"
    video = live.request("GET", f"/api/v1/videos/{job['video_id']}").json
    assert video["path"] == "cam7.mp4" and video["status"] == "indexed"  # relative to its root
    cli = live.request("GET", f"/api/v1/videos/{job['video_id']}", headers=TOKEN).json
    assert cli["path"] == str(path.resolve())
    # known and unchanged: the answer names the video at once, and the job skips it
    again = live.post_json("/api/v1/videos", {"path": str(path)}).json
    assert again["video_id"] == job["video_id"]
    assert live.wait_job(again["job_id"])["result"]["status"] == "skipped"
    assert live.request("DELETE", f"/api/v1/videos/{job['video_id']}").status == 200
    assert path.exists()  # a server path is the user's file: deleting the video leaves it


def test_a_folder_queues_one_job_per_video_and_skips_links_that_lead_out(live, tmp_path):
    folder = media(live) / "site3"
    (folder / "day1").mkdir(parents=True)
    make_video(folder / "day1" / "c1.mp4", source="testsrc2", duration=2)
    (folder / "broken.mp4").write_bytes(b"\0" * 64)
    (folder / "notes.txt").write_text("not a video")
    (folder / "escape.mp4").symlink_to(live.videos["a"])  # a link to a file outside the roots
    r = live.post_json("/api/v1/videos", {"path": str(folder)})
    assert r.status == 202, r.body
    body = r.json
    assert sorted(Path(j["path"]).name for j in body["jobs"]) == ["broken.mp4", "c1.mp4"]
    assert body["refused"] == ["site3/escape.mp4"]  # relative to the root
    jobs = {Path(j["path"]).name: live.wait_job(j["job_id"]) for j in body["jobs"]}
    assert jobs["c1.mp4"]["status"] == "done" and jobs["c1.mp4"]["video_id"]
    failed = jobs["broken.mp4"]
    assert failed["status"] == "failed" and "site3/broken.mp4" in failed["error"]
    assert str(folder) not in failed["error"] and str(folder) not in failed["result"]["error"]
    assert failed["result"]["status"] == "failed"
    rec = live.request("GET", f"/api/v1/videos/{failed['video_id']}").json
    assert rec["status"] == "failed" and rec["error"]  # kept in the catalog with its reason, as the CLI does
    for j in jobs.values():
        live.request("DELETE", f"/api/v1/videos/{j['video_id']}")


def test_paths_outside_the_roots_are_refused(live, tmp_path):
    root = media(live)
    outside = live.videos["a"]  # exists, but not under the root
    (root / "link-out.mp4").symlink_to(outside)
    (root / "dir-out").symlink_to(outside.parent, target_is_directory=True)
    (root / "empty").mkdir()
    cases = [
        (str(outside), 403, "path_not_allowed"),
        (f"{root}/../{outside.name}", 403, "path_not_allowed"),  # '..' is refused before anything else
        (f"{root}/empty/../../{outside.name}", 403, "path_not_allowed"),
        (str(root / "link-out.mp4"), 403, "path_not_allowed"),  # a symlink that resolves outside
        (str(root / "dir-out" / outside.name), 403, "path_not_allowed"),
        (str(root / "dir-out"), 403, "path_not_allowed"),
        ("/etc/passwd", 403, "path_not_allowed"),
        (str(root / "missing.mp4"), 404, "path_not_found"),
        (str(root / "empty"), 400, "no_videos"),
    ]
    for path, status, code in cases:
        assert_json_error(live.post_json("/api/v1/videos", {"path": path}), status, code)
    # nothing outside the roots was queued
    assert all(not j["path"].startswith(str(outside.parent) + os.sep + outside.name)
               for j in live.request("GET", "/api/v1/jobs").json["jobs"])


def test_the_local_cli_token_may_name_any_readable_file(live, tmp_path):
    path = make_video(tmp_path / "own.mp4", source="smptehdbars", duration=2)
    assert_json_error(live.post_json("/api/v1/videos", {"path": str(path)}), 403, "path_not_allowed")
    assert_json_error(live.post_json("/api/v1/videos", {"path": str(path)}, {"X-Vidsearch-Token": "wrong"}), 403)
    r = live.post_json("/api/v1/videos", {"path": str(path)}, TOKEN)
    assert r.status == 202, r.body
    job = live.wait_job(r.json["job_id"], headers=TOKEN)
    assert job["status"] == "done" and job["path"] == str(path)
    assert live.wait_job(r.json["job_id"])["path"] == "own.mp4"  # others see only its name
    assert_json_error(live.post_json("/api/v1/videos", {"path": f"{tmp_path}/../{tmp_path.name}/own.mp4"}, TOKEN),
                      403, "path_not_allowed")
    live.request("DELETE", f"/api/v1/videos/{job['video_id']}")


# -- jobs ----------------------------------------------------------------------------------
def test_jobs_report_live_progress_and_list_newest_first(live, tmp_path):
    long = make_video(tmp_path / "long.mp4", source="testsrc2", duration=90, size="160x120", fps=10)
    short = make_video(tmp_path / "short.mp4", source="smptebars", duration=2, size="160x120", fps=10)
    first = live.post_json("/api/v1/videos", {"path": str(long)}, TOKEN).json
    second = live.post_json("/api/v1/videos", {"path": str(short)}, TOKEN).json
    listed = [j["id"] for j in live.request("GET", "/api/v1/jobs").json["jobs"]]
    assert listed.index(second["job_id"]) < listed.index(first["job_id"])

    seen, t0 = [], time.monotonic()
    while True:
        job = live.request("GET", f"/api/v1/jobs/{first['job_id']}").json
        seen.append((job["status"], job["progress"]))
        if job["status"] in ("done", "failed"):
            break
        assert time.monotonic() - t0 < 300
        time.sleep(0.02)
    assert job["status"] == "done", job
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert any(s == "running" and 0 < p < 1 for s, p in seen), seen  # partial progress was visible
    assert live.wait_job(second["job_id"])["status"] == "done"  # then the queue went on
    for body in (first, second):
        vid = live.request("GET", f"/api/v1/jobs/{body['job_id']}").json["video_id"]
        live.request("DELETE", f"/api/v1/videos/{vid}")


def test_unknown_job_is_404(live):
    assert_json_error(live.request("GET", "/api/v1/jobs/0123456789abcdef"), 404, "job_not_found")


def test_deleting_a_video_that_is_being_indexed(live, tmp_path):
    long = make_video(tmp_path / "busy.mp4", source="testsrc", duration=60, size="160x120", fps=10)
    queued = make_video(tmp_path / "later.mp4", source="rgbtestsrc", duration=3, size="160x120", fps=10)
    up1 = live.upload(long.read_bytes(), name="busy.mp4").json
    up2 = live.upload(queued.read_bytes(), name="later.mp4").json
    # the second waits behind the first: deleting it cancels its job
    r = live.request("DELETE", f"/api/v1/videos/{up2['video_id']}")
    assert r.status == 200, r.body
    job2 = live.wait_job(up2["job_id"])
    assert job2["status"] == "failed" and "cancelled" in job2["error"]
    # the first is running: it cannot be deleted until its job is done
    t0 = time.monotonic()
    while live.request("GET", f"/api/v1/jobs/{up1['job_id']}").json["status"] == "queued":
        assert time.monotonic() - t0 < 60
        time.sleep(0.02)
    assert_json_error(live.request("DELETE", f"/api/v1/videos/{up1['video_id']}"), 409, "video_busy")
    assert live.wait_job(up1["job_id"])["status"] == "done"
    assert live.request("DELETE", f"/api/v1/videos/{up1['video_id']}").status == 200
    assert_json_error(live.request("GET", f"/api/v1/videos/{up2['video_id']}"), 404)


def test_a_video_uploaded_again_and_again_stays_deleted_and_leaves_no_files(live, tmp_path):
    """Issue 13: DELETE cancelled only the first queued job, so the next one indexed the video again,
    and the cancelled jobs' uploads stayed on disk for good."""
    long = make_video(tmp_path / "busy2.mp4", source="testsrc", duration=40, size="160x120", fps=10)
    clip = make_video(tmp_path / "again.mp4", source="smptehdbars", duration=2, size="160x120", fps=10)
    (media(live) / "again-path.mp4").write_bytes(clip.read_bytes())  # the same footage on a server path
    before = set(stored_files(uploads_dir(live)))
    busy = live.upload(long.read_bytes(), name="busy2.mp4").json
    t0 = time.monotonic()
    while live.request("GET", f"/api/v1/jobs/{busy['job_id']}").json["status"] == "queued":
        assert time.monotonic() - t0 < 60
        time.sleep(0.02)
    ups = [live.upload(clip.read_bytes(), name=f"again{i}.mp4").json for i in range(4)]
    by_path = live.post_json("/api/v1/videos", {"path": str(media(live) / "again-path.mp4")}, TOKEN).json
    assert by_path["video_id"] is None  # not hashed yet: known only when its job starts
    vid = ups[0]["video_id"]
    assert {u["video_id"] for u in ups} == {vid}
    assert live.request("DELETE", f"/api/v1/videos/{vid}").status == 200
    assert_json_error(live.request("DELETE", f"/api/v1/videos/{vid}"), 404, "video_not_found")
    for u in ups:
        job = live.wait_job(u["job_id"])
        assert job["status"] == "failed" and "deleted" in job["error"], job
    path_job = live.wait_job(by_path["job_id"])  # queued before the delete: it must not bring the video back
    assert path_job["status"] == "failed" and "deleted" in path_job["error"], path_job
    assert live.wait_job(busy["job_id"])["status"] == "done"
    assert_json_error(live.request("GET", f"/api/v1/videos/{vid}"), 404, "video_not_found")
    left = set(stored_files(uploads_dir(live))) - before
    assert {p.name for p in left} == {"busy2.mp4"}, left  # none of the four uploads is left behind
    assert (media(live) / "again-path.mp4").exists()  # a server path is never the server's to remove
    assert live.request("DELETE", f"/api/v1/videos/{busy['video_id']}").status == 200


def test_interrupted_jobs_are_resumed_when_the_server_starts(tmp_path):
    from vidsearch.catalog import VideoRecord, content_id
    from vidsearch.library import Library
    from web.app import jobs_of

    path = make_video(tmp_path / "left.mp4", source="testsrc", duration=2)
    settings = web_settings(tmp_path / "data")
    with Library(settings) as lib:
        vid = content_id(path)
        st = path.stat()
        lib.catalog.upsert(VideoRecord(id=vid, path=str(path), status="indexing", size=st.st_size, mtime=st.st_mtime))
        with serving(lib) as server:
            (job,) = jobs_of(server.app).resume()
            assert job.video_id == vid
            assert server.wait_job(job.id)["status"] == "done"
            assert server.request("GET", f"/api/v1/videos/{vid}").json["status"] == "indexed"


def test_stopping_the_server_mid_job_leaves_it_to_be_resumed(tmp_path):
    from vidsearch.library import Library
    from web.app import jobs_of

    path = make_video(tmp_path / "long.mp4", source="testsrc2", duration=120, size="160x120", fps=10)
    settings = web_settings(tmp_path / "data", VIDSEARCH_DECODE_CHUNK="4")
    with Library(settings) as lib:
        with serving(lib, local_token="t") as server:
            job = server.post_json("/api/v1/videos", {"path": str(path)}, {"X-Vidsearch-Token": "t"}).json
            t0 = time.monotonic()
            while server.request("GET", f"/api/v1/jobs/{job['job_id']}").json["progress"] == 0:
                assert time.monotonic() - t0 < 120
                time.sleep(0.02)
            jobs_of(server.app).stop()  # what SIGTERM does: stop after the current chunk
            stopped = server.request("GET", f"/api/v1/jobs/{job['job_id']}").json
            assert stopped["status"] == "queued" and stopped["finished_at"] is None, stopped
            vid = stopped["video_id"]
        assert lib.video(vid).status == "indexing"  # not failed: the next start finishes it
        with serving(lib) as server:
            (again,) = jobs_of(server.app).resume()
            assert server.wait_job(again.id)["status"] == "done"
            assert lib.video(vid).status == "indexed"


# -- the API key, free space ---------------------------------------------------------------
@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A server with an API key and an impossible free-space reserve (so an accepted upload is 507)."""
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("keyed")
    settings = web_settings(tmp / "data", VIDSEARCH_API_KEY="s3cret", VIDSEARCH_MIN_FREE_MB=str(2**40),
                            VIDSEARCH_ALLOWED_ROOTS=str(tmp))
    with Library(settings) as lib, serving(lib, local_token="tok") as server:
        yield server


def test_write_endpoints_need_the_api_key(keyed, tmp_path):
    data = b"\0" * 1000
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                    {"X-Vidsearch-Token": "wrong"}):
        r = keyed.upload(data, headers=headers)
        assert_json_error(r, 401, "unauthorized")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert_json_error(keyed.post_json("/api/v1/videos", {"path": "/x"}, headers), 401)
        assert_json_error(keyed.request("DELETE", "/api/v1/videos/0000000000000000", headers=headers), 401)
    # with the key (either header) or the local token, the request goes through to the next check
    for headers in ({"X-API-Key": "s3cret"}, {"Authorization": "Bearer s3cret"}, {"X-Vidsearch-Token": "tok"}):
        assert_json_error(keyed.upload(data, headers=headers), 507, "insufficient_storage")
        assert_json_error(keyed.request("DELETE", "/api/v1/videos/0000000000000000", headers=headers), 404)
    # reads stay open
    for path in ("/api/v1/videos", "/api/v1/jobs", "/healthz", "/api/v1/openapi.json", "/library"):
        assert keyed.request("GET", path).status == 200, path
    page = keyed.request("GET", "/library").body
    assert b'id="api-key"' in page and b's3cret' not in page


def test_no_upload_is_written_when_the_disk_is_short(keyed):
    assert_json_error(keyed.upload(b"\0" * 5000, headers={"X-API-Key": "s3cret"}), 507)
    assert stored_files(keyed.settings.uploads_dir) == []


# -- no listings ---------------------------------------------------------------------------
def test_no_directory_listings(live):
    for path in ("/static/", "/static", "/uploads/", "/api/v1/", "/api/v1/videos/", "/data/", "/thumbnails/",
                 f"/api/v1/videos/{live.ids['a']}/segments/", "/static/../web/app.py", "/static/%2e%2e/app.py"):
        r = live.request("GET", path)
        assert r.status in (404, 405), (path, r.status)
        assert r.headers.get_content_type() == "application/json", path
        assert b"Traceback" not in r.body and b"Index of" not in r.body
