"""The watchlists and alerts API and page, on a real server with an API key."""
from __future__ import annotations

import json
import time

import pytest

from tests.conftest import frame_at, make_scenes
from tests.web.conftest import serving, web_settings

KEY = {"X-API-Key": "secret-key"}


@pytest.fixture
def keyed(tmp_path):
    from vidsearch.library import Library

    settings = web_settings(tmp_path / "data", VIDSEARCH_API_KEY="secret-key", VIDSEARCH_OCR="0",
                            VIDSEARCH_ALLOWED_ROOTS=str(tmp_path), VIDSEARCH_WEBHOOK_HOSTS="hooks.example.org")
    library = Library(settings)
    try:
        with serving(library) as server:
            yield server, tmp_path
    finally:
        library.close()


def test_watchlist_lifecycle_through_the_api(keyed):
    live, tmp = keyed
    video = make_scenes(tmp / "a.mp4", ["testsrc2", "mandelbrot", "smptebars"], seconds=3)
    png = frame_at(video, 4.5, tmp / "still.png").read_bytes()
    files = {"image": ("still.png", png, "image/png")}
    assert live.post_form("/api/v1/watchlists", {"name": "fractal"}, files).status == 401  # needs the key
    r = live.post_form("/api/v1/watchlists", {"name": "fractal", "webhook": "http://10.0.0.1/x"}, files, headers=KEY)
    assert r.status == 400 and r.json["error"]["code"] == "bad_webhook"  # not on the allow-list
    r = live.post_form("/api/v1/watchlists", {"name": "fractal", "hours": "25:00-01:00"}, files, headers=KEY)
    assert r.status == 400 and r.json["error"]["code"] == "bad_hours"
    r = live.post_form("/api/v1/watchlists", {"name": "fractal"}, {"image": ("x.png", b"not a picture", "image/png")},
                       headers=KEY)
    assert r.status in (400, 415), r.body
    r = live.post_form("/api/v1/watchlists", {"name": "fractal"}, files, headers=KEY)
    assert r.status == 201, r.body
    assert r.json["kind"] == "image" and r.json["threshold"] == 0.4 and r.json["alerts"] == 0
    r = live.post_json("/api/v1/watchlists", {"name": "bad", "kind": "text"}, headers=KEY)
    assert r.status == 400 and r.json["error"]["code"] == "bad_text"

    job = live.post_json("/api/v1/videos", {"path": str(video)}, headers=KEY).json
    done = live.wait_job(job["job_id"], headers=KEY)
    assert done["status"] == "done", done
    deadline = time.time() + 10
    while not (alerts := live.request("GET", "/api/v1/alerts").json["alerts"]) and time.time() < deadline:
        time.sleep(0.2)
    [alert] = alerts
    assert alert["watchlist"] == "fractal" and alert["video_id"] == done["video_id"]
    assert alert["stream_url"].endswith("/stream") and alert["thumbnail_url"]
    assert live.request("GET", alert["thumbnail_url"]).status == 200
    assert live.request("GET", "/api/v1/alerts?watchlist=nothing").status == 404
    assert live.request("GET", f"/api/v1/alerts?since={time.time() + 60}").json["alerts"] == []

    bt = live.request("POST", "/api/v1/watchlists/fractal/backtest", b"{}", {"Content-Type": "application/json"}).json
    assert bt["total"] == 1 and list(bt["per_day"].values()) == [1]
    body = json.dumps({"right": True, "alert_id": alert["id"]}).encode()
    r = live.request("POST", "/api/v1/watchlists/fractal/marks", body, {"Content-Type": "application/json", **KEY})
    assert r.status == 200 and r.json["marks"]["precision"] == 1.0

    vid = done["video_id"]  # a word taught by example moments is a word of the API's text search
    r = live.post_json("/api/v1/watchlists", {"name": "our test card", "kind": "examples",
                                              "examples": [{"video_id": vid, "start": 6.0, "end": 7.5}]}, headers=KEY)
    assert r.status == 201 and r.json["kind"] == "examples", r.body
    top = live.post_json("/api/v1/search", {"text": "our test card", "limit": 3}).json["results"][0]
    assert top["video_id"] == vid and top["why"] == ["taught: our test card"]
    r = live.post_json("/api/v1/watchlists", {"name": "x", "kind": "examples", "examples": [{"video_id": vid}]},
                       headers=KEY)
    assert r.status == 400 and r.json["error"]["code"] == "bad_examples"

    page = live.request("GET", "/watchlists")
    assert page.status == 200 and b"watchlists.js" in page.body and b'aria-current="page"' in page.body
    assert live.request("DELETE", "/api/v1/watchlists/fractal").status == 401
    assert live.request("DELETE", "/api/v1/watchlists/fractal", headers=KEY).status == 200
    assert [w["name"] for w in live.request("GET", "/api/v1/watchlists").json["watchlists"]] == ["our test card"]
    assert live.request("GET", "/api/v1/watchlists/fractal").status == 404


def test_a_taught_word_keeps_to_the_camera_through_the_search_api(tmp_path, encoders):
    """GET /api/v1/search?text=<taught word>&camera=...: only that camera's moments (issue 16)."""
    from types import SimpleNamespace
    from urllib.parse import urlencode

    from tests.alert.test_words import DAY, _two_cameras

    video = make_scenes(tmp_path / "a.mp4", ["testsrc2", "mandelbrot", "smptebars"], seconds=3)
    lib, ids = _two_cameras(SimpleNamespace(a=video, tmp=tmp_path), encoders)
    try:
        with serving(lib) as live:
            def found(**params):
                r = live.request("GET", "/api/v1/search?" + urlencode({"text": "our test card", **params}))
                assert r.status == 200, r.body
                return [m for m in r.json["results"] if m["why"] == ["taught: our test card"]]

            assert {m["video_id"] for m in found()} == set(ids.values())
            assert {m["video_id"] for m in found(camera="yard")} == {ids["yard"]}
            assert {m["video_id"] for m in found(camera="gate")} == {ids["gate"]}
            assert {m["video_id"] for m in found(time_of_day="21:00-06:00")} == {ids["gate"]}
            assert found(camera="yard", before=_iso(DAY - 1)) == []
    finally:
        lib.close()


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()
