"""VIDSEARCH_MIN_FREE_MB (issue 7, item 6): with too little free disk in the data folder an ingest
is refused with a clear error before anything is written, and what is indexed stays as it was."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_video
from vidsearch.config import Settings
from vidsearch.diskspace import LowDiskSpace, check_free_space, free_bytes


def test_the_check_trips_only_below_the_reserve(tmp_path):
    free_mb = free_bytes(tmp_path) / 2**20
    check_free_space(tmp_path, 0)
    check_free_space(tmp_path, free_mb / 2)
    check_free_space(tmp_path / "not" / "made" / "yet", free_mb / 2)  # its nearest existing parent
    with pytest.raises(LowDiskSpace, match=r"not enough free disk space in .*MiB free.*VIDSEARCH_MIN_FREE_MB"):
        check_free_space(tmp_path, free_mb * 2)
    with pytest.raises(LowDiskSpace, match=r"MiB for this"):
        check_free_space(tmp_path, 0, needed=int(free_bytes(tmp_path) * 2))


def test_an_ingest_on_a_short_disk_is_refused_and_writes_nothing(tmp_path, encoders):
    from vidsearch.library import Library

    env = {"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_SEMANTIC": "0", "VIDSEARCH_OCR": "0",
           "VIDSEARCH_MIN_FREE_MB": "0"}
    first = make_video(tmp_path / "first.mp4", duration=3)
    second = make_video(tmp_path / "second.mp4", source="smptebars", duration=3)
    with Library(Settings.from_env(env), encoders=encoders) as lib:
        done = list(lib.ingest([first]))[0]
        assert done.status == "indexed"
        frames = lib.store.count_frames()
    thumbs = sorted(p.name for p in (tmp_path / "data" / "thumbnails").rglob("*"))
    short = Settings.from_env({**env, "VIDSEARCH_MIN_FREE_MB": str(2**40)})  # a reserve no disk has
    with Library(short, encoders=encoders) as lib:
        refused = list(lib.ingest([second]))
        again = list(lib.ingest([first], force=True))  # not even a re-index of what is there
        assert [r.status for r in refused + again] == ["failed", "failed"]
        for r, path in ((refused[0], second), (again[0], first)):
            assert r.error.startswith(f"{path}: refused: not enough free disk space in {tmp_path / 'data'}"), r.error
            assert "VIDSEARCH_MIN_FREE_MB" in r.error
        assert [v.id for v in lib.videos()] == [done.video_id] and lib.video(done.video_id).status == "indexed"
        assert lib.store.count_frames() == frames
    assert sorted(p.name for p in (tmp_path / "data" / "thumbnails").rglob("*")) == thumbs
