"""REST API v1 over real HTTP against a real waitress server (see conftest.py)."""
from __future__ import annotations

import pytest

from tests.conftest import make_video
from tests.web.conftest import MAX_QUERY_MB

CLI_KEYS = ["video_id", "path", "start", "end", "timestamp", "score", "thumbnail"]
TOKEN = {"X-Vidsearch-Token": "local-test-token"}  # the local CLI's: it is shown absolute server paths


def assert_json_error(reply, status: int, code: str | None = None) -> dict:
    assert reply.status == status, reply.body[:300]
    assert reply.headers.get_content_type() == "application/json"
    assert b"Traceback" not in reply.body
    err = reply.json["error"]
    assert set(err) == {"code", "message"} and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


# -- search --------------------------------------------------------------------------------
def test_search_by_a_frame_finds_that_moment_first(live, query_png):
    r = live.search(query_png)
    assert r.status == 200, r.body
    results = r.json["results"]
    assert results, "no moments found"
    best = results[0]
    assert best["video_id"] == live.ids["a"]
    assert abs(best["timestamp"] - 3.0) <= 1.5
    assert best["start"] <= best["timestamp"] <= best["end"]
    # the CLI's shape, unchanged, plus two URLs
    assert list(best)[: len(CLI_KEYS)] == CLI_KEYS
    assert set(best) == {*CLI_KEYS, "confidence", "why", "thumbnail_url", "stream_url"}
    assert best["confidence"] == "same footage" and best["why"] == ["same picture"]
    assert r.json["weak"] >= 0 and r.json["next_offset"] in (None, len(results))
    assert best["stream_url"] == f"/api/v1/videos/{live.ids['a']}/stream"
    assert best["thumbnail_url"].startswith(f"/api/v1/videos/{live.ids['a']}/segments/")


def test_search_result_equals_the_library_result(live, query_png):
    import io

    from vidsearch.media.image import load_image
    from web.access import EXTENSION_KEY

    with live.app.extensions[EXTENSION_KEY].use() as lib:
        expected = [m.to_dict() for m in lib.search_image(load_image(io.BytesIO(query_png)), limit=5)]
    got = live.search(query_png, limit=5, headers=TOKEN).json["results"]
    assert [{k: v for k, v in g.items() if not k.endswith("_url")} for g in got] == expected


def test_search_filters(live, query_png):
    r = live.search(query_png, limit=1)
    assert r.status == 200 and len(r.json["results"]) == 1
    r = live.search(query_png, video_id=live.ids["b"])
    assert r.status == 200 and all(m["video_id"] == live.ids["b"] for m in r.json["results"])
    r = live.search(query_png, video_id=live.ids["a"], after="0:02", before="4.5")
    assert r.status == 200 and r.json["results"]
    assert all(m["video_id"] == live.ids["a"] and m["end"] >= 2 and m["start"] <= 4.5 for m in r.json["results"])
    r = live.search(query_png, region="0,0,200,150")
    assert r.status == 200


@pytest.mark.parametrize("refine", ["true", "false"])
def test_refine_is_a_per_request_choice(live, query_png, refine):
    """refine=true re-checks the timestamp against the decoded video (vidsearch/search/refine.py);
    either way the frame's moment comes first, at most 1.5 s off."""
    r = live.search(query_png, refine=refine)
    assert r.status == 200, r.body
    best = r.json["results"][0]
    assert best["video_id"] == live.ids["a"] and abs(best["timestamp"] - 3.0) <= 1.5
    text = live.post_form("/api/v1/search", {"text": "red", "refine": refine}, {})
    assert_json_error(text, 400, "bad_refine")


@pytest.mark.parametrize("fields, code", [
    ({"limit": "many"}, "bad_limit"),
    ({"limit": "0"}, "bad_limit"),
    ({"limit": "1000"}, "bad_limit"),
    ({"region": "1,2,3"}, "bad_region"),
    ({"region": "0,0,-5,10"}, "bad_region"),
    ({"region": "5000,5000,10,10"}, "bad_region"),
    ({"refine": "sometimes"}, "bad_refine"),
    ({"offset": "-1"}, "bad_offset"),
    ({"offset": "next"}, "bad_offset"),
    ({"sort": "random"}, "bad_sort"),
    ({"include_weak": "maybe"}, "bad_include_weak"),
    ({"after": "soon"}, "bad_time"),
    ({"after": "5", "before": "2"}, "bad_time"),
])
def test_malformed_queries_are_400(live, query_png, fields, code):
    assert_json_error(live.search(query_png, **fields), 400, code)


def test_weak_results_are_counted_and_given_only_when_asked(live, query_png):
    plain = live.search(query_png, limit=100).json
    everything = live.search(query_png, limit=100, include_weak="true").json
    assert all(m["confidence"] != "weak" for m in plain["results"])
    weak = [m for m in everything["results"] if m["confidence"] == "weak"]
    assert len(weak) == plain["weak"] == everything["weak"]
    assert everything["results"][: len(plain["results"])] == plain["results"]  # the weak ones come last
    first = live.search(query_png, limit=1, include_weak="true").json
    second = live.search(query_png, limit=1, offset=str(first["next_offset"]), include_weak="true").json
    assert [*first["results"], *second["results"]] == everything["results"][:2]


def test_search_without_an_image_is_400(live):
    assert_json_error(live.post_form("/api/v1/search", {"limit": "3"}), 400, "no_image")
    assert_json_error(live.request("POST", "/api/v1/search"), 400, "no_image")


def test_an_image_and_text_together_are_400(live, query_png):
    """One query at a time (text search itself: test_text_api.py)."""
    r = live.post_form("/api/v1/search", {"text": "a red car"}, {"image": ("q.png", query_png, "image/png")})
    assert_json_error(r, 400, "bad_request")


def test_search_for_an_unknown_video_is_404(live, query_png):
    assert_json_error(live.search(query_png, video_id="0000000000000000"), 404, "video_not_found")


def test_an_upload_that_is_not_an_image_is_415(live):
    assert_json_error(live.search(b"this is text, not a picture", name="notes.png"), 415, "unsupported_media_type")


def test_an_upload_over_the_limit_is_413(live, query_png):
    big = query_png + b"\0" * (MAX_QUERY_MB * 2**20)
    err = assert_json_error(live.search(big), 413, "payload_too_large")
    assert "limit" in err["message"]


# -- health, videos ------------------------------------------------------------------------
def test_healthz(live):
    r = live.request("GET", "/healthz")
    assert r.status == 200 and r.json == {"status": "ok", "videos": 2, "models": "on demand"}


def test_list_and_get_videos(live):
    r = live.request("GET", "/api/v1/videos")
    assert r.status == 200
    videos = {v["id"]: v for v in r.json["videos"]}
    assert set(live.ids.values()) <= set(videos)
    a = videos[live.ids["a"]]
    assert a["status"] == "indexed" and a["path"] == "a.mp4" and 5.5 <= a["duration"] <= 6.5  # no server folders
    assert "info" not in a and a["stream_url"] == f"/api/v1/videos/{a['id']}/stream"
    one = live.request("GET", f"/api/v1/videos/{a['id']}")
    assert one.status == 200 and one.json == a
    cli = live.request("GET", f"/api/v1/videos/{a['id']}", headers=TOKEN)
    assert cli.status == 200 and cli.json == {**a, "path": str(live.videos["a"])}


def test_unknown_ids_and_routes_are_404(live):
    assert_json_error(live.request("GET", "/api/v1/videos/0000000000000000"), 404, "video_not_found")
    assert_json_error(live.request("GET", "/api/v1/videos/0000000000000000/stream"), 404, "video_not_found")
    assert_json_error(live.request("DELETE", "/api/v1/videos/0000000000000000"), 404, "video_not_found")
    assert_json_error(live.request("GET", "/api/v1/nothing-here"), 404, "not_found")
    assert_json_error(live.request("GET", "/no/such/page"), 404, "not_found")


def test_wrong_method_is_405(live):
    r = live.request("PUT", "/api/v1/search")
    assert_json_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers["Allow"] and "GET" in r.headers["Allow"]


# -- stream, thumbnails --------------------------------------------------------------------
def test_stream_answers_range_requests(live):
    vid, data = live.ids["a"], live.videos["a"].read_bytes()
    full = live.request("GET", f"/api/v1/videos/{vid}/stream")
    assert full.status == 200 and full.body == data
    assert full.headers["Content-Type"] == "video/mp4" and full.headers["Accept-Ranges"] == "bytes"
    part = live.request("GET", f"/api/v1/videos/{vid}/stream", headers={"Range": "bytes=100-1099"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert part.body == data[100:1100]
    tail = live.request("GET", f"/api/v1/videos/{vid}/stream", headers={"Range": "bytes=-500"})
    assert tail.status == 206 and tail.body == data[-500:]
    bad = live.request("GET", f"/api/v1/videos/{vid}/stream", headers={"Range": f"bytes={len(data) + 10}-"})
    assert bad.status == 416 and bad.headers["Content-Range"] == f"bytes */{len(data)}"


def test_thumbnail_of_a_result_is_a_jpeg(live, query_png):
    best = live.search(query_png, headers=TOKEN).json["results"][0]
    r = live.request("GET", best["thumbnail_url"])
    assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert r.body[:3] == b"\xff\xd8\xff" and r.body == open(best["thumbnail"], "rb").read()


def test_thumbnails_outside_the_data_folder_are_never_served(live):
    vid = live.ids["a"]
    assert_json_error(live.request("GET", f"/api/v1/videos/{vid}/segments/99999/thumbnail"), 404)
    for path in ("/api/v1/videos/..%2F..%2F..%2Fetc/segments/0/thumbnail",
                 "/api/v1/videos/../segments/0/thumbnail",
                 f"/api/v1/videos/{vid}/segments/-1/thumbnail",
                 f"/api/v1/videos/{vid}/segments/..%2F..%2Fcatalog/thumbnail"):
        r = live.request("GET", path)
        assert r.status == 404 and r.headers.get_content_type() == "application/json", path


# -- delete --------------------------------------------------------------------------------
def test_delete_removes_a_video(live, tmp_path, query_png):
    path = make_video(tmp_path / "c.mp4", source="smptebars", duration=3)
    result = live.ingest(path)
    assert result.status == "indexed", result.error
    vid = result.video_id
    assert live.request("GET", f"/api/v1/videos/{vid}").status == 200
    assert (live.settings.thumbnails_dir / vid).is_dir()

    r = live.request("DELETE", f"/api/v1/videos/{vid}")
    assert r.status == 200 and r.json == {"deleted": vid}
    assert_json_error(live.request("GET", f"/api/v1/videos/{vid}"), 404, "video_not_found")
    assert_json_error(live.request("DELETE", f"/api/v1/videos/{vid}"), 404, "video_not_found")
    assert not (live.settings.thumbnails_dir / vid).exists()
    assert vid not in {v["id"] for v in live.request("GET", "/api/v1/videos").json["videos"]}
    assert all(m["video_id"] != vid for m in live.search(query_png, limit=20).json["results"])


# -- pages ---------------------------------------------------------------------------------
def test_pages_render(live):
    page = live.request("GET", "/")
    assert page.status == 200 and page.headers.get_content_type() == "text/html"
    assert b'id="search-form"' in page.body and b"search.js" in page.body
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    lib = live.request("GET", "/library")
    assert lib.status == 200 and b"a.mp4" in lib.body and b"b.mp4" in lib.body and b"indexed" in lib.body
    for asset in ("/static/search.js", "/static/app.css"):
        assert live.request("GET", asset).status == 200
