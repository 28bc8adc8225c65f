import pytest

from vidsearch.catalog import Catalog, VideoRecord, content_id


def test_content_id_depends_on_bytes_not_name(tmp_path):
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mkv", tmp_path / "c.mp4"
    a.write_bytes(b"x" * 3_000_000)
    b.write_bytes(b"x" * 3_000_000)
    c.write_bytes(b"x" * 2_999_999 + b"y")
    assert content_id(a) == content_id(b) != content_id(c)
    assert len(content_id(a)) == 16


def test_records_survive_reopen_and_status_changes(tmp_path):
    db = tmp_path / "catalog.sqlite"
    cat = Catalog(db)
    cat.upsert(VideoRecord(id="v1", path="/x/a.mp4", status="queued", size=10, mtime=1.5, info={"fps": 1}))
    cat.set_status("v1", "indexing")
    cat.set_status("v1", "indexed", frames=12, segments=3, duration=9.5, info={"fps": 25})
    cat.upsert(VideoRecord(id="v2", path="/x/b.mp4", status="queued"))
    cat.set_status("v2", "failed", error="/x/b.mp4: file is empty (0 bytes)")
    cat.close()

    cat = Catalog(db)
    v1 = cat.get("v1")
    assert (v1.status, v1.frames, v1.segments, v1.duration, v1.info) == ("indexed", 12, 3, 9.5, {"fps": 25})
    assert v1.indexed_at is not None
    assert cat.get("v2").error.endswith("file is empty (0 bytes)")
    assert [r.id for r in cat.list("indexed")] == ["v1"]
    assert cat.find_unchanged("/x/a.mp4", 10, 1.5).id == "v1"
    assert cat.find_unchanged("/x/a.mp4", 11, 1.5) is None
    assert cat.delete("v1") and not cat.delete("v1")
    assert cat.get("v1") is None


def test_upsert_keeps_first_added_time(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    cat.upsert(VideoRecord(id="v", path="/a", status="queued", added_at=100.0))
    cat.upsert(VideoRecord(id="v", path="/b", status="indexing"))
    rec = cat.get("v")
    assert (rec.path, rec.status, rec.added_at) == ("/b", "indexing", 100.0)


def test_unknown_status_is_refused(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    cat.upsert(VideoRecord(id="v", path="/a", status="queued"))
    with pytest.raises(ValueError):
        cat.set_status("v", "done")
