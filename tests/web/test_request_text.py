"""Request bodies that are not valid Unicode: a clear 400 JSON error, never a 500. Real HTTP, real server."""
from __future__ import annotations

import uuid

import pytest

from tests.web.test_api import assert_json_error

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("body, where", [
    (rb'{"text": "red car \ud800"}', "text holds the lone surrogate \\ud800"),
    (rb'{"text": "dog", "video_id": "\ud800"}', "video_id holds the lone surrogate \\ud800"),
    (rb'{"text": "dog", "after": "\udfff"}', "after holds"),
    (rb'{"text": "dog", "\udc00": 1}', "a key of the document holds the lone surrogate \\udc00"),
    (rb'{"text": ["a", {"b": "\ud83d"}]}', "text[1].b holds"),
])
def test_a_lone_surrogate_in_a_search_is_a_400(live, body, where):
    """``\\ud800`` was a 500: a TypeError in the tokenizer, a UnicodeEncodeError in the catalog."""
    err = assert_json_error(live.request("POST", "/api/v1/search", body, JSON), 400, "bad_request")
    assert "not valid Unicode" in err["message"] and where in err["message"], err


def test_a_lone_surrogate_in_a_path_ingest_is_a_400(live):
    for body in (rb'{"path": "/tmp/\ud800.mp4"}', rb'{"path": "/x", "force": false, "\udbff": 0}'):
        err = assert_json_error(live.request("POST", "/api/v1/videos", body, JSON), 400, "bad_request")
        assert "not valid Unicode" in err["message"]


def test_paired_surrogates_and_other_text_are_searched(live):
    for text in (rb"red car \ud83d\ude97", "red car \U0001F697 caf\u00e9".encode(), rb"nul \u0000 char"):
        r = live.request("POST", "/api/v1/search", b'{"text": "' + text + b'"}', JSON)
        assert r.status == 200, r.body


def test_form_fields_are_never_lone_surrogates(live):
    """Form fields arrive as UTF-8 (or ASCII / Latin-1): bytes of a surrogate decode to U+FFFD."""
    cesu = b"\xed\xa0\x80"  # what a surrogate would be in UTF-8, which UTF-8 forbids
    boundary = uuid.uuid4().hex
    parts = [(b"text", b"red car " + cesu), (b"video_id", cesu)]
    body = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary.encode(), n, v)
                    for n, v in parts) + f"--{boundary}--\r\n".encode()
    r = live.request("POST", "/api/v1/search", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_json_error(r, 404, "video_not_found")  # read as U+FFFD, a valid id that names no video
    r = live.request("POST", "/api/v1/search", b"text=red+car+%ED%A0%80&limit=3",
                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r.body
