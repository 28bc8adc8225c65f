"""Hostile query files over HTTP (issue 13): pictures and clips that would cost far more than their
answer are refused with a 4xx that names the file and the reason; bounded ones still work."""
from __future__ import annotations

import subprocess

import pytest

from tests.media.test_image import png
from tests.web.test_api import assert_json_error


def test_an_elongated_png_is_413_naming_the_file(live):
    """999999x100 grey, 97 KB: it took 40 s and +5.9 GB of server memory."""
    err = assert_json_error(live.search(png(999999, 100), name="long.png"), 413, "image_too_large")
    assert err["message"].startswith("long.png: ") and "10000:1" in err["message"]


def test_an_elongated_region_is_413(live, query_png):
    assert_json_error(live.search(query_png, region="0,0,320,2"), 413, "image_too_large")


def test_a_100_megapixel_greyscale_png_is_still_searchable(live):
    r = live.search(png(9999, 9999), name="huge.png", limit=3)
    assert r.status == 200, r.body[:300]
    assert isinstance(r.json["results"], list)


def test_a_picture_waits_for_a_decode_slot_then_gets_503(live, query_png, monkeypatch):
    import web.api.search as search

    slots = live.app.extensions[search.IMAGE_SLOTS_KEY]
    monkeypatch.setattr(search, "IMAGE_SLOT_WAIT_S", 0.2)
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    try:
        r = live.search(query_png)
        assert_json_error(r, 503, "busy")
        assert r.headers["Retry-After"] == str(search.IMAGE_RETRY_AFTER_S)
    finally:
        for _ in range(taken):
            slots.release()
    assert taken == live.settings.image_decodes
    assert live.search(query_png).status == 200


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> bytes:
    """4000 s of black, 64x64 at 1 frame/s: encodes in a second, a few hundred KB."""
    out = tmp_path_factory.mktemp("long") / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=black:size=64x64:rate=1", "-t", "4000",
                    "-c:v", "libx264", "-preset", "ultrafast", str(out)], check=True)
    return out.read_bytes()


@pytest.mark.parametrize("path", ["/api/v1/search", "/api/v1/dedup"])
def test_a_clip_over_the_length_limit_is_413_before_it_is_decoded(live, long_clip, path):
    """1 hour of clip took 27 s of server CPU, 10 hours 145 s; now the probed duration decides."""
    assert len(long_clip) < 1024 * 1024  # under the test server's query limit
    r = live.post_form(path, {}, {"clip": ("long.mp4", long_clip, "video/mp4")})
    err = assert_json_error(r, 413, "clip_too_long")
    limit = f"{live.settings.max_query_clip_s:g} s"
    assert err["message"].startswith("long.mp4: ") and "4000.0 s" in err["message"] and limit in err["message"]
