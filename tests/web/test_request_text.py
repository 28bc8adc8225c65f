"""Request bodies that are not valid Unicode, and forms over werkzeug's part and field limits:
a clear 4xx JSON error, never a 500 or a message naming the wrong limit. Real HTTP, real server."""
from __future__ import annotations

import uuid

import pytest

from tests.web.conftest import MAX_QUERY_MB, encode_multipart
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


# -- werkzeug's form limits (max_form_parts, max_form_memory_size) ------------------------------
def test_a_form_of_too_many_parts_names_the_part_limit(live):
    fields = {f"f{i}": "x" for i in range(5000)}
    body, ctype = encode_multipart(fields, {})
    assert len(body) < MAX_QUERY_MB * 2**20  # within the body limit: the part count is what is over
    for path in ("/api/v1/search", "/api/v1/videos"):
        err = assert_json_error(live.request("POST", path, body, {"Content-Type": ctype}), 413, "payload_too_large")
        assert "more than 1000 parts" in err["message"] and "max_form_parts" in err["message"], err
        assert "MiB" not in err["message"]


def test_a_large_form_field_names_the_field_limit(live):
    body, ctype = encode_multipart({"text": "x" * 600_000}, {})
    assert len(body) < MAX_QUERY_MB * 2**20
    for path in ("/api/v1/search", "/api/v1/videos"):
        err = assert_json_error(live.request("POST", path, body, {"Content-Type": ctype}), 413, "payload_too_large")
        assert "form field" in err["message"] and "500000 bytes" in err["message"], err
        assert "max_form_memory_size" in err["message"] and "MiB" not in err["message"]


def test_a_body_over_the_size_limit_still_names_the_size_limit(live):
    body, ctype = encode_multipart({"text": "x" * (MAX_QUERY_MB * 2**20 + 10)}, {})
    err = assert_json_error(live.request("POST", "/api/v1/search", body, {"Content-Type": ctype}), 413)
    assert f"limit of {MAX_QUERY_MB:g} MiB" in err["message"], err


def test_a_form_within_the_limits_is_read(live):
    body, ctype = encode_multipart({**{f"f{i}": "x" for i in range(900)}, "text": "y" * 1200}, {})
    r = live.request("POST", "/api/v1/search", body, {"Content-Type": ctype})
    assert_json_error(r, 400, "bad_text")  # read, then refused for being over 1000 characters
