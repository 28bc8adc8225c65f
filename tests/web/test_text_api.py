"""Text search through the REST API (JSON and multipart) and through the CLI while a server owns
the store, against a real server over real indexed videos with words drawn on screen."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest

from tests.web.conftest import WALL
from tests.web.test_api import CLI_KEYS, assert_json_error


def _text(live, **body):
    return live.post_json("/api/v1/search", body)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _strip_urls(results: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.endswith("_url")} for r in results]


def test_text_search_finds_the_sign_and_says_why(text_live):
    r = _text(text_live, text="EXIT sign", limit=5)
    assert r.status == 200, r.body
    results = r.json["results"]
    best = results[0]
    assert best["video_id"] == text_live.ids["exit"]
    assert 3.5 <= best["start"] and best["end"] <= 8.5 and best["start"] <= best["timestamp"] <= best["end"]
    assert any(w.startswith("text on screen: 'exit'") for w in best["why"]), best["why"]
    assert all(m["score"] < best["score"] for m in results[1:])  # the sign outranks every moment without it
    # the CLI's shape plus why, then the two URLs
    assert list(best)[: len(CLI_KEYS)] == CLI_KEYS
    assert set(best) == {*CLI_KEYS, "why", "confidence", "thumbnail_url", "stream_url"}
    assert best["stream_url"] == f"/api/v1/videos/{text_live.ids['exit']}/stream"
    assert best["thumbnail_url"].startswith(f"/api/v1/videos/{text_live.ids['exit']}/segments/")
    assert text_live.request("GET", best["thumbnail_url"]).status == 200


def test_text_search_equals_the_library_and_the_multipart_form(text_live):
    from web.access import EXTENSION_KEY

    with text_live.app.extensions[EXTENSION_KEY].use() as lib:
        expected = [m.to_dict() for m in lib.search_text("open door", limit=4)]
    assert expected and expected[0]["video_id"] == text_live.ids["open"]
    token = {"X-Vidsearch-Token": "text-test-token"}  # the local CLI's: it is shown absolute server paths
    got = text_live.post_json("/api/v1/search", {"text": "open door", "limit": 4}, token)
    assert got.status == 200 and _strip_urls(got.json["results"]) == expected
    form = text_live.post_form("/api/v1/search", {"text": "open door", "limit": "4"}, headers=token)
    assert form.status == 200 and _strip_urls(form.json["results"]) == expected


def test_text_search_filters_by_video(text_live):
    exit_id, open_id = text_live.ids["exit"], text_live.ids["open"]
    r = _text(text_live, text="EXIT sign", video_id=open_id)
    assert r.status == 200
    assert all(m["video_id"] == open_id and "exit" not in " ".join(m["why"]) for m in r.json["results"])
    r = _text(text_live, text="OPEN", video_id=exit_id)
    assert r.status == 200 and all(m["video_id"] == exit_id for m in r.json["results"])
    r = _text(text_live, text="OPEN", video_id=open_id, limit=1)
    assert r.status == 200 and len(r.json["results"]) == 1
    assert any(w.startswith("text on screen: 'open'") for w in r.json["results"][0]["why"])


@pytest.mark.parametrize("after, before", [(3, 9), ("0:03", "00:00:09"), ("3", "9.0")])
def test_text_search_filters_by_video_time(text_live, after, before):
    inside = _text(text_live, text="EXIT sign", after=after, before=before)
    assert inside.status == 200
    best = inside.json["results"][0]
    assert best["video_id"] == text_live.ids["exit"] and 4.0 <= best["timestamp"] < 8.0
    assert all(m["end"] >= 3 and m["start"] <= 9 for m in inside.json["results"])
    form = text_live.post_form("/api/v1/search", {"text": "EXIT sign", "after": str(after), "before": str(before)})
    assert form.status == 200 and form.json["results"] == inside.json["results"]


def test_text_search_after_the_sign_does_not_find_it(text_live):
    late = _text(text_live, text="EXIT sign", after=9)
    assert late.status == 200
    assert all(m["timestamp"] >= 9.0 and "exit" not in " ".join(m["why"]) for m in late.json["results"])


def test_text_search_filters_by_wall_clock(text_live):
    hits = _text(text_live, text="EXIT sign", after=_iso(WALL + 3), before=_iso(WALL + 9)).json["results"]
    assert hits and hits[0]["video_id"] == text_live.ids["exit"] and 4.0 <= hits[0]["timestamp"] < 8.0
    # the other video has no recording start: a wall-clock filter leaves it out
    assert all(m["video_id"] == text_live.ids["exit"] for m in hits)
    form = text_live.post_form("/api/v1/search", {"text": "EXIT sign", "after": _iso(WALL + 3),
                                                  "before": _iso(WALL + 9)})
    assert form.status == 200 and form.json["results"] == hits
    assert _text(text_live, text="EXIT sign", after=_iso(WALL + 3600)).json["results"] == []


@pytest.mark.parametrize("body, code", [
    ({"text": ""}, "bad_text"),
    ({"text": "   "}, "bad_text"),
    ({"text": "!!! ???"}, "bad_text"),  # no words
    ({"text": "x" * 1001}, "bad_text"),
    ({"text": 5}, "bad_text"),
    ({"text": ["EXIT"]}, "bad_text"),
    ({}, "bad_request"),
    ({"query": "EXIT"}, "bad_request"),
    ({"text": "EXIT", "limit": 0}, "bad_limit"),
    ({"text": "EXIT", "limit": 101}, "bad_limit"),
    ({"text": "EXIT", "limit": 2.5}, "bad_limit"),
    ({"text": "EXIT", "limit": "5"}, "bad_limit"),
    ({"text": "EXIT", "limit": True}, "bad_limit"),
    ({"text": "EXIT", "after": "soon"}, "bad_time"),
    ({"text": "EXIT", "after": -1}, "bad_time"),
    ({"text": "EXIT", "after": True}, "bad_time"),
    ({"text": "EXIT", "after": "nan"}, "bad_time"),
    ({"text": "EXIT", "after": 5, "before": 2}, "bad_time"),
    ({"text": "EXIT", "after": "2024-05-02T00:00", "before": "2024-05-01T00:00"}, "bad_time"),
    ({"text": "EXIT", "after": "2024-13-01T00:00"}, "bad_time"),
    ({"text": "EXIT", "video_id": 5}, "bad_request"),
    ({"text": "EXIT", "region": "0,0,10,10"}, "bad_region"),
])
def test_malformed_text_queries_are_400(text_live, body, code):
    assert_json_error(text_live.post_json("/api/v1/search", body), 400, code)


def test_malformed_text_requests_are_400(text_live):
    for raw in (b"[]", b'"EXIT"', b"{not json", b""):
        r = text_live.request("POST", "/api/v1/search", raw, {"Content-Type": "application/json"})
        assert_json_error(r, 400, "bad_request")
    png = (text_live.videos["exit"].parent / "exit_6s.png").read_bytes()
    both = text_live.post_form("/api/v1/search", {"text": "EXIT"}, {"image": ("q.png", png, "image/png")})
    assert "one query" in assert_json_error(both, 400, "bad_request")["message"]
    assert_json_error(text_live.post_form("/api/v1/search", {"text": ""}), 400, "bad_text")
    assert_json_error(text_live.post_form("/api/v1/search", {"text": "EXIT", "region": "0,0,5,5"}), 400, "bad_region")
    assert_json_error(text_live.post_form("/api/v1/search", {"text": "EXIT", "after": "later"}), 400, "bad_time")


def test_text_search_for_an_unknown_video_is_404(text_live):
    assert_json_error(_text(text_live, text="EXIT", video_id="0000000000000000"), 404, "video_not_found")


def test_text_search_over_the_query_limit_is_413(text_live):
    body = json.dumps({"text": "EXIT", "pad": "x" * 100_000}).encode()
    assert_json_error(text_live.request("POST", "/api/v1/search", body, {"Content-Type": "application/json"}), 413)


# -- the CLI while the server owns the store -------------------------------------------------
@pytest.fixture
def owned(text_live, monkeypatch):
    """The CLI's view of the data folder: the server advertises itself in server.json, as
    ``vidsearch serve`` does, and the store is locked by the server's library."""
    settings = text_live.settings
    settings.server_info_path.write_text(json.dumps({"url": text_live.url, "pid": os.getpid(),
                                                     "token": "text-test-token"}))
    monkeypatch.setenv("VIDSEARCH_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("VIDSEARCH_QDRANT_URL", raising=False)
    monkeypatch.delenv("VIDSEARCH_BROKER_URL", raising=False)
    yield text_live
    settings.server_info_path.unlink(missing_ok=True)


def test_the_cli_searches_text_through_the_server(owned, capsys):
    from vidsearch import cli
    from vidsearch.index.lock import StoreLocked
    from vidsearch.library import Library
    from web.access import EXTENSION_KEY

    with pytest.raises(StoreLocked):  # the CLI cannot open the store itself: it must use the API
        Library(owned.settings)
    with owned.app.extensions[EXTENSION_KEY].use() as lib:
        local = [m.to_dict() for m in lib.search_text("EXIT sign", limit=3)]
        walled = [m.to_dict() for m in lib.search_text("EXIT sign", limit=10, wall_after=WALL + 3,
                                                       wall_before=WALL + 9)]
        late = [m.to_dict() for m in lib.search_text("EXIT sign", limit=10, after=9.0)]

    assert cli.main(["search", "--text", "EXIT sign", "--json", "--limit", "3"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["results"] == local and local[0]["video_id"] == owned.ids["exit"]

    assert cli.main(["search", "--text", "EXIT sign", "--after", _iso(WALL + 3), "--before", _iso(WALL + 9),
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == walled and walled
    assert cli.main(["search", "--text", "EXIT sign", "--after", "0:09", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == late

    assert cli.main(["search", "--text", "EXIT sign", "--limit", "3"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith(" 1. ") and "exit.mp4" in text.splitlines()[0]
    assert "why: text on screen: 'exit'" in text

    assert cli.main(["search", "--text", "EXIT", "--video", "0000000000000000"]) == 0
    assert "no matching moments" in capsys.readouterr().out
    assert cli.main(["search", "--text", "!!!"]) == 2
    assert "no words" in capsys.readouterr().err


def test_the_cli_filters_by_time_of_day_and_camera_through_the_server(owned, capsys):
    import datetime as dt

    from vidsearch import cli
    from web.access import EXTENSION_KEY

    def clock(t):
        return dt.datetime.fromtimestamp(t).strftime("%H:%M")  # the server's zone (VIDSEARCH_TIMEZONE unset)

    around = f"{clock(WALL - 60)}-{clock(WALL + 120)}"
    with owned.app.extensions[EXTENSION_KEY].use() as lib:
        window = (lambda a, b: (a, b))(*[int(x[:2]) * 3600 + int(x[3:]) * 60 for x in around.split("-")])
        local = [m.to_dict() for m in lib.search_text("EXIT sign", limit=5, where=lib.where(time_of_day=window))]
    assert local and local[0]["video_id"] == owned.ids["exit"]
    assert cli.main(["search", "--text", "EXIT sign", "--limit", "5", "--time-of-day", around, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == local
    away = f"{clock(WALL + 6 * 3600)}-{clock(WALL + 7 * 3600)}"
    assert cli.main(["search", "--text", "EXIT sign", "--time-of-day", away, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []
    assert cli.main(["search", "--text", "EXIT sign", "--camera", "nowhere", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []
