"""Snapshots: create, list and restore through the real CLI, and the same search answers after a
restore into a fresh data folder."""
from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest

from tests.conftest import frame_at, make_scenes
from vidsearch.cli import main
from vidsearch.config import Settings
from vidsearch.library import Library
from vidsearch.media.image import load_image
from vidsearch.snapshot import SnapshotError, create_snapshot, list_snapshots, read_manifest, restore_snapshot


def _settings(folder: Path) -> Settings:
    return Settings.from_env({"VIDSEARCH_DATA_DIR": str(folder)})


def _answers(lib: Library, queries: list[Path]) -> dict:
    """Every kind of search, with thumbnails as paths inside the data folder (it moved)."""
    def plain(moments):
        out = []
        for m in moments:
            d = m.to_dict()
            if d.get("thumbnail"):
                d["thumbnail"] = str(Path(d["thumbnail"]).relative_to(lib.settings.data_dir))
            out.append(d)
        return out

    answers = {"videos": [v.to_dict() for v in lib.videos()]}
    for q in queries:
        image = load_image(q)
        answers[f"image {q.name}"] = plain(lib.search_image(image, limit=5))
        answers[f"semantic {q.name}"] = plain(lib.search_image_semantic(image, limit=5))
    # weak results too: the test pattern scores about 0.30 for these words, at the text floor, and
    # whether anything clears it depends on the cellauto scene (seeded; the comparison is the point)
    answers["text"] = plain(lib.search_text("test pattern colour bars", limit=5, include_weak=True))
    return answers


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, encoders):
    tmp = tmp_path_factory.mktemp("snap")
    a = make_scenes(tmp / "a.mp4", ["testsrc2", "mandelbrot"], seconds=2)
    b = make_scenes(tmp / "b.mp4", ["smptebars", "rgbtestsrc", "cellauto"], seconds=1.5)
    queries = [frame_at(a, 3.0, tmp / "qa.png"), frame_at(b, 1.0, tmp / "qb.png")]
    data = tmp / "data"
    with Library(_settings(data), encoders=encoders) as lib:
        assert [r.status for r in lib.ingest([a, b])] == ["indexed", "indexed"]
        before = _answers(lib, queries)
    assert all(before[k] for k in before), [k for k in before if not before[k]]  # every query finds something
    return {"tmp": tmp, "data": data, "queries": queries, "before": before, "videos": [a, b]}


def test_create_list_restore_gives_the_same_answers(indexed, encoders, monkeypatch, capsys, tmp_path):
    data = indexed["data"]
    monkeypatch.setenv("VIDSEARCH_DATA_DIR", str(data))
    assert main(["snapshot", "create", "--name", "first"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("created  first") and "2 videos" in out
    path = data / "snapshots" / "first.tar"
    manifest = read_manifest(path)
    assert manifest["format"] == "vidsearch-snapshot" and manifest["vidsearch_version"]
    counts = manifest["counts"]
    assert counts["videos"] == 2 and counts["by_status"] == {"indexed": 2}
    with Library(_settings(data), encoders=encoders) as lib:
        assert counts["frames"] == lib.store.count_frames() > 0
        assert counts["segments"] == lib.store.count_segments() == counts["thumbnails"] > 0
    assert path.stat().st_size < 20e6  # the store's preallocated zero tails are left out

    assert main(["snapshot", "list"]) == 0
    listed = capsys.readouterr().out
    assert "first" in listed and manifest["created"] in listed and f"{counts['frames']} frames" in listed
    assert main(["snapshot", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["snapshots"][0]["counts"] == counts

    fresh = tmp_path / "restored"
    monkeypatch.setenv("VIDSEARCH_DATA_DIR", str(fresh))
    assert main(["snapshot", "restore", str(path)]) == 0
    assert "restored first" in capsys.readouterr().out
    assert not [p for p in fresh.iterdir() if p.name.startswith(".")]  # no staging left behind
    with Library(_settings(fresh), encoders=encoders) as lib:
        after = _answers(lib, indexed["queries"])
        for v in lib.videos():
            assert len(list((lib.settings.thumbnails_dir / v.id).glob("*.jpg"))) == v.segments
    assert after == indexed["before"]


def test_restore_refuses_an_index_unless_forced(indexed, encoders, tmp_path, capsys, monkeypatch):
    snap = create_snapshot(_settings(indexed["data"]), name="second")
    assert [s.name for s in list_snapshots(_settings(indexed["data"])) if not isinstance(s, tuple)][-1] == "second"

    # a data folder with another index: one more video, and a marker row
    other = tmp_path / "other"
    extra = make_scenes(tmp_path / "c.mp4", ["life", "testsrc"], seconds=1.5)
    with Library(_settings(other), encoders=encoders) as lib:
        assert [r.status for r in lib.ingest([extra])] == ["indexed"]
        extra_id = lib.videos()[0].id
    catalog_bytes = (other / "catalog.sqlite").read_bytes()

    monkeypatch.setenv("VIDSEARCH_DATA_DIR", str(other))
    assert main(["snapshot", "restore", str(snap.path)]) == 2
    err = capsys.readouterr().err
    assert "already holds an index" in err and "--force" in err
    assert (other / "catalog.sqlite").read_bytes() == catalog_bytes  # untouched
    assert not [p for p in other.iterdir() if p.name.startswith(".")]

    assert main(["snapshot", "restore", "--force", str(snap.path)]) == 0
    with Library(_settings(other), encoders=encoders) as lib:
        assert lib.video(extra_id) is None and lib.store.count_frames(extra_id) == 0
        assert not (lib.settings.thumbnails_dir / extra_id).exists()
        assert _answers(lib, indexed["queries"]) == indexed["before"]
    assert not [p for p in other.iterdir() if p.name.startswith(".")]  # the old index was removed


def test_create_and_restore_refused_while_the_folder_is_owned(indexed, encoders, tmp_path):
    settings = _settings(indexed["data"])
    snap = create_snapshot(settings, name="third")
    with Library(settings, encoders=encoders):
        with pytest.raises(SnapshotError, match="is in use by .* stop it"):
            create_snapshot(settings)
        with pytest.raises(SnapshotError, match="is in use by"):
            restore_snapshot(settings, snap.path, force=True)
    with pytest.raises(SnapshotError, match="Qdrant's own snapshot API"):
        create_snapshot(settings.with_(qdrant_url=":memory:"))
    with pytest.raises(SnapshotError, match="no catalog"):
        create_snapshot(_settings(tmp_path / "empty"))
    with pytest.raises(SnapshotError, match="no snapshot 'nope'"):
        restore_snapshot(_settings(tmp_path / "x"), "nope")


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """A copy of a snapshot with members changed by ``edit(info, data) -> (info, data) | None``."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
        for m in tin:
            data = tin.extractfile(m).read() if m.isfile() else None
            changed = edit(m, data)
            if changed is None:
                continue
            info, data = changed
            info.size = len(data) if data is not None else 0
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
    return dst


def test_damaged_or_hostile_snapshots_change_nothing(indexed, tmp_path):
    good = indexed["data"] / "snapshots" / "first.tar"
    if not good.exists():
        create_snapshot(_settings(indexed["data"]), name="first")

    def wrong_count(info, data):
        if info.name == "manifest.json":
            m = json.loads(data)
            m["counts"]["frames"] += 1
            data = json.dumps(m).encode()
        return info, data

    def escape(info, data):
        if info.name == "catalog.sqlite":
            info.name = "../catalog.sqlite"
        return info, data

    def no_store(info, data):
        return None if info.name.startswith("qdrant/") else (info, data)

    for label, edit, why in (("count", wrong_count, "does not hold what its manifest counts"),
                             ("escape", escape, "unexpected member"),
                             ("nostore", no_store, "does not hold what its manifest counts")):
        bad = _rewrite(good, tmp_path / f"{label}.tar", edit)
        target = tmp_path / f"target-{label}"
        with pytest.raises(SnapshotError, match=why):
            restore_snapshot(_settings(target), bad)
        assert sorted(p.name for p in target.iterdir()) == ["owner.lock"], label  # nothing restored, no staging

    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(SnapshotError, match="not a readable vidsearch snapshot"):
        restore_snapshot(_settings(tmp_path / "t2"), junk)


def test_snapshot_of_a_store_a_killed_owner_left(tmp_path, encoders):
    """A folder whose owner died without closing the store: the snapshot holds all it wrote."""
    import multiprocessing

    data = tmp_path / "data"
    video = make_scenes(tmp_path / "k.mp4", ["testsrc2", "smptebars"], seconds=1.5)
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_ingest_and_die, args=(str(data), str(video)))
    proc.start()
    proc.join(120)
    assert proc.exitcode == 9  # os._exit(9) right after the ingest: no close(), no final flush
    info = create_snapshot(_settings(data), name="after-kill")
    with Library(_settings(data), encoders=encoders) as lib:
        rec = lib.videos()[0]
        assert rec.status == "indexed"
        assert info.manifest["counts"]["frames"] == rec.frames == lib.store.count_frames() > 0
    restored = tmp_path / "restored"
    restore_snapshot(_settings(restored), info.path)
    db = sqlite3.connect(restored / "catalog.sqlite")
    assert db.execute("SELECT status, frames FROM videos").fetchall() == [("indexed", rec.frames)]
    db.close()


def _ingest_and_die(data_dir: str, video: str) -> None:
    import os

    from vidsearch.index.edge import EdgeStore

    s = Settings.from_env({"VIDSEARCH_DATA_DIR": data_dir, "VIDSEARCH_SEMANTIC": "0", "VIDSEARCH_CONCEPTS": "0",
                           "VIDSEARCH_OCR": "0"})
    lib = Library(s)
    if isinstance(lib.store, EdgeStore):
        lib.store.flush_interval = None  # nothing flushed on its own: only the WAL holds the points
    list(lib.ingest([video]))
    os._exit(9)


def _crafted(path: Path, size_header: str, data: bytes = b"vectors") -> Path:
    """A snapshot whose manifest is valid and whose one store file declares ``size_header`` bytes."""
    manifest = json.dumps({"format": "vidsearch-snapshot", "format_version": 1, "created_unix": 0,
                           "counts": {}}).encode()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        info = tarfile.TarInfo("qdrant/frames/segment/page_0.dat")
        info.size = len(data)
        info.pax_headers = {"VIDSEARCH.size": size_header}
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("declared, why", [
    ("100000000000000000", r"'qdrant/frames/segment/page_0.dat' declares a size of 100000000000000000 bytes"),
    (str(2**70), r"'qdrant/frames/segment/page_0.dat' declares a size of"),
    ("1e17", r"'qdrant/frames/segment/page_0.dat' is damaged: its size header VIDSEARCH.size='1e17' is not a whole"),
    ("-5", r"is not a whole number"),
    ("3", r"damaged \(size header\)"),
])
def test_a_crafted_size_header_is_refused_by_name(tmp_path, declared, why):
    """A huge declared size ended in a raw ``OSError: [Errno 27] File too large`` (or a ValueError)."""
    bad = _crafted(tmp_path / "huge.tar", declared)
    target = tmp_path / "target"
    with pytest.raises(SnapshotError, match=why):
        restore_snapshot(_settings(target), bad)
    assert sorted(p.name for p in target.iterdir()) == ["owner.lock"]  # nothing restored, no staging


def test_a_member_running_past_the_end_of_the_archive_is_refused(tmp_path):
    bad = _crafted(tmp_path / "cut.tar", "200000", data=b"x" * 100_000)
    bad.write_bytes(bad.read_bytes()[:60_000])  # the store file's data stops short
    target = tmp_path / "target"
    with pytest.raises(SnapshotError, match="is damaged and cannot be restored"):
        restore_snapshot(_settings(target), bad)
    assert sorted(p.name for p in target.iterdir()) == ["owner.lock"]
