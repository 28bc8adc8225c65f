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
