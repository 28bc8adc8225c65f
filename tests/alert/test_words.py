"""Words taught by example under text search's filters: camera, wall-clock bounds, time of day."""
from __future__ import annotations

import shutil

from tests.alert.conftest import open_library

NIGHT = 1_714_600_800.0  # 2024-05-01T22:00:00Z
DAY = 1_714_636_800.0  # 2024-05-02T08:00:00Z


def _two_cameras(footage, encoders):
    """Video a as recorded at night by camera gate and by day by camera yard (the same pictures,
    so that only the filters tell them apart), and a word taught from a moment of each."""
    lib = open_library(footage.tmp / "data", encoders, VIDSEARCH_TIMEZONE="UTC")
    ids = {}
    for cam, start in (("gate", NIGHT), ("yard", DAY)):
        copy = footage.tmp / f"{cam}.mp4"
        shutil.copy(footage.a, copy)
        with open(copy, "ab") as f:  # another file (another content id), the same pictures
            f.write(cam.encode())
        res = lib.runner.ingest_file(copy, camera=cam, wall_start=start)
        assert res.status == "indexed", res.error
        ids[cam] = res.video_id
    lib.watchlists.add("our test card", "examples",
                       examples=[{"video_id": ids["gate"], "start": 6.0, "end": 7.5},
                                 {"video_id": ids["yard"], "start": 6.5, "end": 8.0}])
    return lib, ids


def _taught(found):
    return [m for m in found if m.extra["why"] == ["taught: our test card"]]


def test_a_taught_word_keeps_to_the_camera_and_the_clock(footage, encoders):
    lib, ids = _two_cameras(footage, encoders)
    try:
        assert {m.video_id for m in _taught(lib.search_text("our test card", limit=10))} == set(ids.values())
        yard = lib.search_text("our test card", limit=10, where=lib.where(camera="yard"))
        assert _taught(yard) and {m.video_id for m in yard} == {ids["yard"]}
        # the wall-clock bounds, as keywords of text search and in where: the yard was filmed by day
        night = lib.search_text("our test card", limit=10, wall_before=DAY - 1)
        assert _taught(night) and {m.video_id for m in night} == {ids["gate"]}
        assert {m.video_id for m in lib.search_text("our test card", limit=10,
                                                    where=lib.where(wall_after=DAY))} == {ids["yard"]}
        # a time of day on every day (wall_ranges): 21:00-06:00 is the gate's
        night = lib.search_text("our test card", limit=10, where=lib.where(time_of_day=(21 * 3600.0, 6 * 3600.0)))
        assert _taught(night) and {m.video_id for m in night} == {ids["gate"]}
        assert lib.search_text("our test card", where=lib.where(camera="yard", wall_before=DAY - 1)) == []
        # a bound inside a recording: its earlier shots name the video, but the test card's frame
        # (6 s in) is past the bound and is not scored
        early = lib.search_text("our test card", limit=10, where=lib.where(camera="yard", wall_before=DAY + 5.0))
        assert not _taught(early) and all(m.video_id == ids["yard"] and m.start < 6.0 for m in early)
        assert _taught(lib.search_text("our test card", limit=10, where=lib.where(camera="yard",
                                                                                 wall_before=DAY + 6.5)))
    finally:
        lib.close()
