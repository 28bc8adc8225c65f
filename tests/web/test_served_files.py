"""Served files are the files that were indexed: a file swapped for a link (to /etc/passwd, to the
data folder's ``server.json`` or ``catalog.sqlite``), replaced or moved away is never sent (web/files.py).

Each test indexes its own small video under the live server's allowed root through the API (no key,
as anyone may), then changes the file on disk the way an attacker who can write there would.
"""
from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import make_video
from tests.web.test_api import TOKEN, assert_json_error

LEAKS = (b"root:x:0:0", b"local-test-token", b"SQLite format 3", b"secret-token", b"Traceback")
_colours = itertools.count(0x102030, 0x0a0b0c)


def media(live) -> Path:
    return live.settings.allowed_roots[0]


@pytest.fixture
def indexed(live, tmp_path):
    """``(video_id, path)`` of a fresh 1 s video indexed from ``<root>/swap-N.mp4`` by an anonymous caller."""
    made = []

    def index(name: str | None = None):
        colour = next(_colours)
        src = make_video(tmp_path / f"src{colour:06x}.mp4", source=f"color=c=0x{colour:06x}:size=160x120:rate=10",
                         duration=1)
        path = media(live) / (name or f"swap-{colour:06x}.mp4")
        shutil.copyfile(src, path)
        r = live.post_json("/api/v1/videos", {"path": str(path)})
        assert r.status == 202, r.body
        job = live.wait_job(r.json["job_id"])
        assert job["status"] == "done" and job["result"]["status"] == "indexed", job
        made.append((job["video_id"], path))
        return job["video_id"], path

    yield index
    for vid, path in made:
        live.request("DELETE", f"/api/v1/videos/{vid}", headers=TOKEN)
        path.unlink(missing_ok=True)


def stream(live, vid: str, headers: dict | None = None):
    return live.request("GET", f"/api/v1/videos/{vid}/stream", headers=headers)


def refused(reply, status: int, code: str) -> dict:
    for leak in LEAKS:
        assert leak not in reply.body, (leak, reply.body[:300])
    return assert_json_error(reply, status, code)


def swap_for_link(path: Path, target: Path) -> None:
    path.unlink()
    path.symlink_to(target)


def test_a_file_swapped_for_a_link_to_etc_passwd_is_not_served(live, indexed):
    vid, path = indexed()
    assert stream(live, vid).status == 200
    swap_for_link(path, Path("/etc/passwd"))
    err = refused(stream(live, vid), 409, "file_changed")
    assert vid in err["message"] and path.name in err["message"] and str(path.parent) not in err["message"]
    refused(stream(live, vid, {"Range": "bytes=0-99"}), 409, "file_changed")


def test_a_file_swapped_for_a_link_into_the_data_folder_is_not_served(live, indexed):
    info = live.settings.server_info_path
    made_info = not info.exists()
    if made_info:  # what `vidsearch serve` writes: the CLI's token
        info.write_text('{"url": "http://127.0.0.1:1", "token": "secret-token"}')
    try:
        for target in (info, live.settings.catalog_path):
            vid, path = indexed()
            swap_for_link(path, target)
            refused(stream(live, vid), 409, "file_changed")
            refused(stream(live, vid, TOKEN), 409, "file_changed")  # trusted callers get no more
    finally:
        if made_info:
            info.unlink()


def test_a_link_to_a_look_alike_of_the_same_size_and_time_is_not_served(live, indexed):
    """Size and mtime alone can be forged (the attacker made the indexed file): a link that now leads
    into the data folder or out of the allowed roots is refused even when both match."""
    for folder in (live.settings.data_dir, live.videos["a"].parent):  # data folder; outside every root
        vid, path = indexed()
        st = path.stat()
        look_alike = folder / f"look-alike-{vid}.bin"
        look_alike.write_bytes(b"s" * st.st_size)
        os.utime(look_alike, ns=(st.st_atime_ns, st.st_mtime_ns))
        try:
            swap_for_link(path, look_alike)
            refused(stream(live, vid), 409, "file_changed")
        finally:
            look_alike.unlink()


def test_a_file_replaced_by_another_of_another_size_is_409(live, indexed):
    vid, path = indexed()
    path.write_bytes(b"not the indexed video" * 10)
    err = refused(stream(live, vid), 409, "file_changed")
    assert "size or modification time" in err["message"]


def test_a_file_moved_away_is_404_and_a_dangling_link_too(live, indexed):
    vid, path = indexed()
    path.rename(path.with_suffix(".moved"))
    try:
        refused(stream(live, vid), 404, "file_missing")
        path.symlink_to(path.parent / "nothing-here.mp4")
        refused(stream(live, vid), 404, "file_missing")
    finally:
        path.unlink(missing_ok=True)
        path.with_suffix(".moved").rename(path)
    assert stream(live, vid).status == 200  # back, unchanged: served again


def test_the_indexed_file_is_still_served_with_ranges_and_conditionals(live, indexed):
    vid, path = indexed()
    data = path.read_bytes()
    full = stream(live, vid)
    assert full.status == 200 and full.body == data and full.headers["Content-Length"] == str(len(data))
    assert full.headers["Accept-Ranges"] == "bytes" and full.headers["Content-Type"] == "video/mp4"
    assert full.headers["ETag"] and full.headers["Last-Modified"]
    part = stream(live, vid, {"Range": "bytes=10-109"})
    assert part.status == 206 and part.body == data[10:110]
    assert part.headers["Content-Range"] == f"bytes 10-109/{len(data)}"
    bad = stream(live, vid, {"Range": f"bytes={len(data) + 5}-"})
    assert bad.status == 416 and bad.headers["Content-Range"] == f"bytes */{len(data)}"
    assert stream(live, vid, {"If-None-Match": full.headers["ETag"]}).status == 304
    assert stream(live, vid, {"If-Modified-Since": full.headers["Last-Modified"]}).status == 304
    again = stream(live, vid, {"If-Range": full.headers["ETag"], "Range": "bytes=0-9"})
    assert again.status == 206 and again.body == data[:10]


def test_a_thumbnail_swapped_for_a_link_inside_the_data_folder_is_not_served(live):
    vid = live.ids["a"]
    folder = live.settings.thumbnails_dir / vid
    index = sorted(folder.glob("*.jpg"))[0]
    url = f"/api/v1/videos/{vid}/segments/{int(index.stem)}/thumbnail"
    jpeg = index.read_bytes()
    assert live.request("GET", url).body == jpeg
    kept = index.with_suffix(".kept")
    index.rename(kept)
    try:
        index.symlink_to(live.settings.catalog_path)
        refused(live.request("GET", url), 404, "thumbnail_not_found")
    finally:
        index.unlink(missing_ok=True)
        kept.rename(index)
    r = live.request("GET", url)
    assert r.status == 200 and r.body == jpeg and r.headers["Content-Type"] == "image/jpeg"


# -- the opener itself ---------------------------------------------------------------------------
def test_a_link_swapped_into_a_resolved_path_fails_the_open(tmp_path):
    """What stops a swap between the checks and the open: each component is opened without
    following links, so a folder replaced by a link after the path was resolved is not entered."""
    from web.files import LinkInPath, open_no_links

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "v.mp4").write_bytes(b"video")
    real = (tmp_path / "d" / "v.mp4").resolve()
    opened = open_no_links(real)
    with opened.file as f:
        assert f.read() == b"video" and opened.stat.st_size == 5
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "v.mp4").write_bytes(b"secret")
    (tmp_path / "d").rename(tmp_path / "d.old")
    (tmp_path / "d").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # a folder swapped
    with pytest.raises(LinkInPath):
        open_no_links(real)
    (tmp_path / "d").unlink()
    (tmp_path / "d.old").rename(tmp_path / "d")
    (tmp_path / "d" / "v.mp4").unlink()
    (tmp_path / "d" / "v.mp4").symlink_to(tmp_path / "elsewhere" / "v.mp4")  # the file swapped
    with pytest.raises(LinkInPath):
        open_no_links(real)
    with pytest.raises(FileNotFoundError):
        open_no_links(tmp_path / "d" / "gone.mp4")
