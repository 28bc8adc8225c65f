"""Searches that fit in a link: ``GET /api/v1/search``, find-similar (``like``), camera and
time-of-day filters, over real HTTP against a real server (tests/web/conftest.py)."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest

from tests.web.conftest import WALL
from tests.web.test_api import assert_json_error


def _get(server, **params):
    return server.request("GET", "/api/v1/search?" + urlencode(params))


def _spans(reply):
    return [(m["video_id"], m["start"], m["end"], m["score"]) for m in reply.json["results"]]


def test_get_text_answers_as_the_post(text_live):
    post = text_live.post_json("/api/v1/search", {"text": "EXIT sign", "limit": 5})
    got = _get(text_live, text="EXIT sign", limit=5)
    assert got.status == 200 and got.json == post.json and got.json["results"]
    page = _get(text_live, text="EXIT sign", limit=1, offset=0, sort="score", include_weak="false",
                video_id=text_live.ids["exit"], after="0:02", before="10")
    assert page.status == 200 and [r["video_id"] for r in page.json["results"]] == [text_live.ids["exit"]]


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%H:%M")  # the server's zone (VIDSEARCH_TIMEZONE unset)


def test_time_of_day_keeps_only_recordings_of_those_hours(text_live):
    exit_id = text_live.ids["exit"]
    around = f"{_clock(WALL - 60)}-{_clock(WALL + 120)}"
    hit = _get(text_live, text="EXIT sign", time_of_day=around)
    assert hit.status == 200 and [r["video_id"] for r in hit.json["results"]][:1] == [exit_id]
    assert all(r["video_id"] == exit_id for r in hit.json["results"])  # "open" has no wall clock: never inside
    away = f"{_clock(WALL + 6 * 3600)}-{_clock(WALL + 7 * 3600)}"
    assert _get(text_live, text="EXIT sign", time_of_day=away).json["results"] == []
    body = text_live.post_json("/api/v1/search", {"text": "EXIT sign", "time_of_day": around}).json
    assert body == hit.json
    assert text_live.post_json("/api/v1/search", {"text": "EXIT sign", "camera": "nowhere"}).json["results"] == []


def test_like_a_frame_finds_its_own_moment_first(live):
    a = live.ids["a"]
    post = live.post_json("/api/v1/search", {"like": {"video_id": a, "t": 3}})
    assert post.status == 200, post.body[:300]
    first = post.json["results"][0]
    assert first["video_id"] == a and first["start"] <= 3 <= first["end"] and first["confidence"] == "same footage"
    link = _get(live, like_video=a, like_t="0:03")
    assert link.status == 200 and link.json == post.json
    form = live.post_form("/api/v1/search", {"like_video": a, "like_t": "3"})
    assert form.status == 200 and form.json == post.json
    only_b = live.post_json("/api/v1/search", {"like": {"video_id": a, "t": 3}, "video_id": live.ids["b"],
                                               "include_weak": True}).json["results"]
    assert all(r["video_id"] == live.ids["b"] for r in only_b)


def test_like_a_span_is_a_clip_query(live):
    a = live.ids["a"]
    got = live.post_json("/api/v1/search", {"like": {"video_id": a, "start": 1, "end": 5}})
    assert got.status == 200, got.body[:300]
    top = got.json["results"][0]
    assert top["video_id"] == a and "query_start" in top and top["start"] < 5 and top["end"] > 1
    assert _get(live, like_video=a, like_start="1", like_end="5").json == got.json


@pytest.mark.parametrize("params,status,code", [
    ({}, 400, "no_query"),
    ({"text": "x", "like_video": "v", "like_t": "1"}, 400, "bad_request"),
    ({"like_video": "v"}, 400, "bad_like"),
    ({"like_video": "nope", "like_t": "1"}, 404, "video_not_found"),
    ({"text": "EXIT", "time_of_day": "22:00"}, 400, "bad_time_of_day"),
    ({"text": "EXIT", "time_of_day": "25:00-01:00"}, 400, "bad_time_of_day"),
    ({"text": "EXIT", "limit": "0"}, 400, "bad_limit"),
    ({"text": "EXIT", "region": "1,2,3,4"}, 400, "bad_region"),
])
def test_bad_links_are_400_or_404_with_a_reason(live, params, status, code):
    assert_json_error(_get(live, **params), status, code)


@pytest.mark.parametrize("like,code", [
    ({"video_id": "A"}, "bad_like"),
    ({"video_id": "A", "t": 1, "start": 0, "end": 2}, "bad_like"),
    ({"video_id": "A", "start": 4, "end": 2}, "bad_like"),
    ({"video_id": "A", "t": -1}, "bad_time"),
    ({"t": 1}, "bad_like"),
    ("A", "bad_like"),
])
def test_bad_like_queries_are_400(live, like, code):
    if isinstance(like, dict) and like.get("video_id") == "A":
        like = {**like, "video_id": live.ids["a"]}
    assert_json_error(live.post_json("/api/v1/search", {"like": like}), 400, code)


def test_like_an_unknown_video_is_404(live):
    assert_json_error(live.post_json("/api/v1/search", {"like": {"video_id": "nope", "t": 1}}), 404, "video_not_found")


def test_an_image_search_keeps_its_picture_for_a_link(live, query_png):
    post = live.search(query_png, limit=5)
    digest = post.json["query_image"]
    assert post.status == 200 and len(digest) == 16
    assert list(live.settings.query_images_dir.glob(f"{digest}.*"))  # kept under its hash
    again = _get(live, image=digest, limit=5)
    assert again.status == 200 and again.json == post.json
    region = live.search(query_png, region="0,0,160,120").json
    assert _get(live, image=digest, region="0,0,160,120").json == region
    assert_json_error(_get(live, image="0123456789abcdef"), 404, "query_image_not_found")
    assert_json_error(_get(live, image="../../etc/passwd"), 404, "query_image_not_found")
    assert_json_error(_get(live, image=digest, text="x"), 400, "bad_request")

