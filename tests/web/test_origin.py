"""Cross-site writes and DNS rebinding (web/origin.py): only this server's own pages may write, and
the server answers only to its own host names. Real HTTP against real waitress servers."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_video
from tests.web.conftest import serving, web_settings
from tests.web.test_api import assert_json_error

EVIL = "http://evil.example"


def _uploads(live) -> list[Path]:
    folder = live.settings.uploads_dir
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _state(live):
    return (sorted(v["id"] for v in live.request("GET", "/api/v1/videos").json["videos"]),
            len(live.request("GET", "/api/v1/jobs").json["jobs"]), _uploads(live))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    return make_video(tmp_path_factory.mktemp("origin") / "clip.mp4", source="smptebars", duration=2).read_bytes()


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},  # another port of this machine: another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "SAME"},
], ids=["origin", "null", "other-port", "cross-site", "same-site", "cross-site-same-origin"])
def test_a_foreign_page_cannot_write(live, clip, headers):
    headers = {k: (f"http://127.0.0.1:{live.port}" if v == "SAME" else v) for k, v in headers.items()}
    before = _state(live)
    err = assert_json_error(live.upload(clip, headers=headers), 403, "cross_origin")
    assert "another" in err["message"]
    assert_json_error(live.post_json("/api/v1/videos", {"path": str(live.videos["a"])}, headers), 403, "cross_origin")
    assert_json_error(live.request("DELETE", f"/api/v1/videos/{live.ids['a']}", headers=headers), 403, "cross_origin")
    assert_json_error(live.post_json("/api/v1/search", {"text": "red car"}, headers), 403, "cross_origin")
    assert_json_error(live.request("POST", "/api/v1/dedup", b"", headers), 403, "cross_origin")
    assert _state(live) == before  # nothing indexed, queued, stored or deleted
    # reads stay open to other sites (a thumbnail or the video in another page's <img>/<video>)
    assert live.request("GET", "/api/v1/videos", headers=headers).status == 200


def test_this_servers_own_pages_and_non_browsers_may_write(live, clip):
    same = f"http://127.0.0.1:{live.port}"
    for headers in ({"Origin": same}, {"Origin": same, "Sec-Fetch-Site": "same-origin"},
                    {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {}):
        assert_json_error(live.request("DELETE", "/api/v1/videos/0000000000000000", headers=headers), 404)
        assert live.post_json("/api/v1/search", {"text": "test pattern"}, headers).status == 200, headers
    r = live.upload(clip, name="same-origin.mp4", headers={"Origin": same, "Sec-Fetch-Site": "same-origin"})
    assert r.status == 202, r.body
    assert live.wait_job(r.json["job_id"])["status"] == "done"
    assert live.request("DELETE", f"/api/v1/videos/{r.json['video_id']}", headers={"Origin": same}).status == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "localhost.evil.example:{port}",
                                  "127.0.0.1.evil.example", "exa mple", "localhost:notaport"])
def test_another_host_name_is_refused(live, host):
    """DNS rebinding: a page of evil.example, its name pointed at this server, reads and writes as
    a same-origin page unless the server refuses the name."""
    headers = {"Host": host.format(port=live.port)}
    for method, path in (("GET", "/api/v1/videos"), ("GET", "/"), ("GET", "/healthz"), ("DELETE", "/api/v1/videos/x")):
        assert_json_error(live.request(method, path, headers=headers), 421, "bad_host")
    r = live.post_json("/api/v1/search", {"text": "red car"}, {**headers, "Origin": f"http://{headers['Host']}"})
    assert_json_error(r, 421, "bad_host")


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LOCALHOST:{port}",
                                  "localhost.:{port}", "192.168.1.20:{port}", "localhost", "127.0.0.1"])
def test_this_machines_names_and_addresses_are_answered(live, host):
    host = host.format(port=live.port)
    assert live.request("GET", "/api/v1/videos", headers={"Host": host}).status == 200
    r = live.post_json("/api/v1/search", {"text": "test pattern"}, {"Host": host, "Origin": f"http://{host}"})
    assert r.status == 200, r.body


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    """A server that is also vid.example.org and every name under corp.example (behind a proxy)."""
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("public")
    settings = web_settings(tmp / "data", VIDSEARCH_ALLOWED_HOSTS="vid.example.org, .corp.example")
    with Library(settings) as lib, serving(lib) as server:
        yield server


def test_the_configured_public_names_are_answered(public):
    for host in ("vid.example.org", "vid.example.org:8443", "corp.example", "search.corp.example", "localhost"):
        assert public.request("GET", "/api/v1/videos", headers={"Host": host}).status == 200, host
        r = public.request("DELETE", "/api/v1/videos/0000000000000000",
                           headers={"Host": host, "Origin": f"https://{host}"})
        assert_json_error(r, 404, "video_not_found")
    # a proxy that passes Host on as 127.0.0.1:PORT: the page's origin is still the public name
    r = public.request("DELETE", "/api/v1/videos/0000000000000000", headers={"Origin": "https://vid.example.org"})
    assert_json_error(r, 404)
    for host in ("evil.example", "vid.example.org.evil.example", "xcorp.example"):
        assert_json_error(public.request("GET", "/api/v1/videos", headers={"Host": host}), 421, "bad_host")
    r = public.request("DELETE", "/api/v1/videos/0000000000000000", headers={"Origin": "https://evil.example"})
    assert_json_error(r, 403, "cross_origin")


def test_any_host_with_a_star(tmp_path):
    from vidsearch.library import Library

    with Library(web_settings(tmp_path / "data", VIDSEARCH_ALLOWED_HOSTS="*")) as lib, serving(lib) as server:
        assert server.request("GET", "/api/v1/videos", headers={"Host": "anything.example"}).status == 200
        r = server.request("DELETE", "/api/v1/videos/0000000000000000",
                           headers={"Host": "anything.example", "Origin": "http://anything.example"})
        assert_json_error(r, 404)
        r = server.request("DELETE", "/api/v1/videos/0000000000000000", headers={"Origin": EVIL})
        assert_json_error(r, 403, "cross_origin")  # any host, but still only its own pages


def test_allowed_hosts_setting_is_checked():
    from vidsearch.config import ConfigError, Settings

    s = Settings.from_env({"VIDSEARCH_DATA_DIR": "/tmp/x", "VIDSEARCH_ALLOWED_HOSTS": " Vid.Example.org ,.corp.example,"})
    assert s.allowed_hosts == ("vid.example.org", ".corp.example")
    for bad in ("http://vid.example.org", "vid.example.org:443", "a/b", "*.example.org"):
        with pytest.raises(ConfigError, match="VIDSEARCH_ALLOWED_HOSTS"):
            Settings.from_env({"VIDSEARCH_DATA_DIR": "/tmp/x", "VIDSEARCH_ALLOWED_HOSTS": bad})


def test_the_bind_host_is_one_of_the_names():
    from web.origin import HostPolicy

    named = HostPolicy((), "media-box.lan")
    assert named.host_allowed("media-box.lan") and named.host_allowed("localhost") and named.host_allowed("10.1.2.3")
    assert not named.host_allowed("evil.example") and not HostPolicy((), "0.0.0.0").host_allowed("0.0.0.0.evil.example")
