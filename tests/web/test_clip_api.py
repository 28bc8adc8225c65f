"""Clip queries over HTTP: ``POST /api/v1/search`` with a ``clip`` and ``POST /api/v1/dedup``."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import make_video
from tests.web.test_api import TOKEN, assert_json_error

MOMENT_KEYS = {"video_id", "path", "start", "end", "timestamp", "score", "thumbnail", "query_start", "query_end",
               "confidence", "why",
               "thumbnail_url", "stream_url"}


@pytest.fixture(scope="module")
def excerpt(live, tmp_path_factory) -> bytes:
    """Seconds 1..4 of video a, re-encoded smaller (a copy, not the same file)."""
    out = tmp_path_factory.mktemp("clip") / "excerpt.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1", "-t", "3", "-i", str(live.videos["a"]), "-vf",
                    "scale=240:-2", "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", str(out)], check=True)
    return out.read_bytes()


def clip_search(live, data: bytes, headers: dict | None = None, **fields):
    return live.post_form("/api/v1/search", {k: str(v) for k, v in fields.items()},
                          {"clip": ("excerpt.mp4", data, "video/mp4")}, headers)


def test_a_clip_finds_where_its_footage_is(live, excerpt):
    r = clip_search(live, excerpt, headers=TOKEN)  # the CLI's view: absolute paths
    assert r.status == 200, r.body
    best = r.json["results"][0]
    assert set(best) == MOMENT_KEYS
    assert best["video_id"] == live.ids["a"]
    assert best["start"] <= 2.5 <= best["end"] and best["start"] >= 0
    assert 0 <= best["query_start"] < best["query_end"] <= 3.5
    assert best["stream_url"] == f"/api/v1/videos/{live.ids['a']}/stream"
    # the same answer as the library gives (the CLI's code path)
    from web.access import EXTENSION_KEY

    path = live.videos["a"].parent / "excerpt_copy.mp4"
    path.write_bytes(excerpt)
    with live.app.extensions[EXTENSION_KEY].use() as lib:
        expected = [m.to_dict() for m in lib.search_clip(path, limit=100)][:10]
    assert [{k: v for k, v in m.items() if not k.endswith("_url")} for m in r.json["results"]] == expected


def test_clip_filters_and_errors(live, excerpt):
    r = clip_search(live, excerpt, video_id=live.ids["b"])
    assert r.status == 200 and all(m["video_id"] == live.ids["b"] for m in r.json["results"])
    r = clip_search(live, excerpt, limit=1)
    assert r.status == 200 and len(r.json["results"]) <= 1
    assert_json_error(clip_search(live, excerpt, region="0,0,10,10"), 400, "bad_region")
    assert_json_error(clip_search(live, b"not a video at all" * 50), 415, "unsupported_media_type")
    both = live.post_form("/api/v1/search", files={"clip": ("c.mp4", excerpt, "video/mp4"),
                                                   "image": ("q.png", b"x", "image/png")})
    assert_json_error(both, 400, "bad_request")


def test_dedup_finds_the_copy_with_its_spans(live, excerpt):
    r = live.post_form("/api/v1/dedup", files={"clip": ("excerpt.mp4", excerpt, "video/mp4")})
    assert r.status == 200, r.body
    matches = r.json["matches"]
    assert matches, "the excerpt of video a was not recognised as a copy"
    m = matches[0]
    assert m["video_id"] == live.ids["a"] and m["path"] == "a.mp4"  # no server folders without the token
    assert abs(m["ref_start"] - 1.0) <= 1.0 and abs(m["ref_end"] - 4.0) <= 1.0
    assert m["query_start"] <= 1.0 and m["query_end"] >= 2.0
    assert m["ref_thumbnail_url"].startswith(f"/api/v1/videos/{live.ids['a']}/segments/")
    assert live.request("GET", m["ref_thumbnail_url"]).status == 200


def test_dedup_of_new_footage_is_empty(live, tmp_path):
    fresh = make_video(tmp_path / "fresh.mp4", source="life=size=160x120:rate=10:seed=7,trim=duration=3")
    r = live.post_form("/api/v1/dedup", files={"clip": ("fresh.mp4", fresh.read_bytes(), "video/mp4")})
    assert r.status == 200 and r.json == {"matches": []}


def test_dedup_errors(live):
    assert_json_error(live.post_form("/api/v1/dedup", {"x": "1"}), 400, "no_clip")
    assert_json_error(live.request("POST", "/api/v1/dedup", json.dumps({"clip": "x"}).encode(),
                                   {"Content-Type": "application/json"}), 400, "bad_request")
    assert_json_error(live.post_form("/api/v1/dedup", files={"clip": ("n.mp4", b"\0" * 200, "video/mp4")}), 415)
