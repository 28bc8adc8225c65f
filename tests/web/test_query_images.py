"""Query pictures kept under their hash: pruned by age and by count, found only by a well-formed hash."""
from __future__ import annotations


def test_kept_pictures_are_pruned_by_age_and_count(tmp_path, monkeypatch):
    import os
    import time

    from web import query_images

    src = tmp_path / "q.png"
    src.write_bytes(b"picture")
    folder = tmp_path / "queries"
    monkeypatch.setattr(query_images, "MOST", 3)
    for i in range(5):
        query_images.keep(folder, src, f"{i:016x}", "q.png")
        os.utime(folder / f"{i:016x}.png", (time.time() - 100 + i, time.time() - 100 + i))
    query_images.keep(folder, src, "f" * 16, "Q.PNG")
    assert sorted(p.name for p in folder.iterdir()) == ["0000000000000003.png", "0000000000000004.png",
                                                        "ffffffffffffffff.png"]
    old = folder / "0000000000000003.png"
    os.utime(old, (time.time() - query_images.KEEP_S - 10,) * 2)
    query_images.keep(folder, src, "e" * 16, None)
    assert not old.exists() and (folder / ("e" * 16 + ".img")).exists()
    assert query_images.find(folder, "0000000000000004") is not None
    assert query_images.find(folder, "nope") is None


def test_the_same_new_picture_kept_by_many_searches_at_once(tmp_path):
    """50 clients searching the same picture: each copy has a name of its own, one file stays."""
    import threading

    from web.query_images import find, keep

    src = tmp_path / "q.png"
    src.write_bytes(b"\x89PNG" + bytes(range(256)) * 64)
    folder, digest, errors = tmp_path / "queries", "0123456789abcdef", []

    def run():
        try:
            for _ in range(20):
                keep(folder, src, digest, "q.png")
        except Exception as exc:  # noqa: BLE001 - any error fails the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert find(folder, digest) is not None
    assert [p.name for p in folder.iterdir()] == [f"{digest}.png"]
