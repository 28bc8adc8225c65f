from __future__ import annotations

import numpy as np

from tests.alert.conftest import open_library


def test_an_image_watchlist_alerts_once_on_the_video_with_the_footage(footage, encoders):
    data = footage.tmp / "data"
    lib = open_library(data, encoders)
    try:
        w = lib.watchlists.add("fractal", "image", image=str(footage.still))
        assert w.threshold == 0.40 and w.threshold_source == "default" and w.vectors["copy"].shape == (512,)
        results = {r.path: r for r in lib.ingest([footage.a, footage.b])}
        assert all(r.status == "indexed" for r in results.values())
        alerts = lib.watchlists.alerts()
        assert len(alerts) == 1, [a.to_dict() for a in alerts]
        a = alerts[0]
        assert a.video_id == results[str(footage.a)].video_id and a.watchlist == "fractal"
        assert 3.0 - 0.5 <= a.start <= a.timestamp <= a.end <= 6.0 + 0.5 and a.confidence == "same footage"
        assert a.thumbnail and a.score > 0.8
        list(lib.ingest([footage.a], force=True))  # a re-index finds the same moment: no second alert
    finally:
        lib.close()
    lib = open_library(data, encoders)  # nor after a restart
    try:
        assert len(lib.watchlists.alerts()) == 1
        assert len(lib.watchlists.on_indexed(a.video_id)) == 0
        bt = lib.watchlists.backtest("fractal")
        assert [m["video_id"] for m in bt["matches"]] == [a.video_id] and sum(bt["per_day"].values()) == 1
    finally:
        lib.close()


def test_camera_and_hours_filters(footage, encoders):
    lib = open_library(footage.tmp / "data", encoders, VIDSEARCH_TIMEZONE="UTC")
    try:
        lib.watchlists.add("other camera", "image", image=str(footage.still), camera="gate")
        lib.watchlists.add("night", "image", image=str(footage.still), hours="22:00-06:00")
        lib.watchlists.add("day", "image", image=str(footage.still), hours="09:00-17:00")
        noon = 1_700_000_000 - 1_700_000_000 % 86400 + 12 * 3600
        r = lib.runner.ingest_file(footage.a, camera="yard", wall_start=noon)
        assert r.status == "indexed"
        assert {a.watchlist for a in lib.watchlists.alerts()} == {"day"}
    finally:
        lib.close()


def test_a_word_taught_by_example_is_found_by_text_search(footage, encoders):
    lib = open_library(footage.tmp / "data", encoders)
    try:
        ids = {r.path: r.video_id for r in lib.ingest([footage.a, footage.b])}
        a = ids[str(footage.a)]
        import time

        t0 = time.perf_counter()
        w = lib.watchlists.add("our test card", "examples", examples=[{"video_id": a, "start": 6.0, "end": 7.5}])
        assert time.perf_counter() - t0 < 5.0
        found = lib.search_text("our test card", limit=3)
        top = found[0]
        assert top.video_id == a and top.extra["why"] == ["taught: our test card"]
        assert top.start < 9.0 and top.end > 7.5  # the rest of the bars shot, not only the examples
        assert lib.watchlists.describe(w)["marks"]["precision"] is None
        out = lib.watchlists.mark("our test card", right=False,
                                  moment={"video_id": a, "start": top.start, "end": top.end, "score": top.score})
        assert out["threshold_source"] == "marks" and out["marks"]["wrong"] == 1
    finally:
        lib.close()
    lib = open_library(footage.tmp / "data", encoders)  # the word survives a restart
    try:
        assert "our test card" in lib.watchlists.taught()
    finally:
        lib.close()
    from vidsearch.snapshot import create_snapshot, restore_snapshot

    snap = create_snapshot(lib.settings, name="words")  # and a snapshot restored elsewhere
    other = lib.settings.with_(data_dir=footage.tmp / "restored")
    restore_snapshot(other, snap.path)
    lib = open_library(footage.tmp / "restored", encoders)
    try:
        w = lib.watchlists.get("our test card")  # its model, and the threshold its wrong mark raised
        assert "our test card" in lib.watchlists.taught() and w.threshold_source == "marks" and "w_copy" in w.model
    finally:
        lib.close()


def test_videos_the_workers_finished_are_checked_when_the_library_takes_them_in(footage, encoders):
    """With Celery workers the video is indexed elsewhere; the job records name it on sync."""
    data = footage.tmp / "data"
    lib = open_library(data, encoders)
    try:
        lib.watchlists.add("fractal", "image", image=str(footage.still))
        lib.runner.on_indexed = None  # as a worker writes it: no check in that process
        [r] = list(lib.ingest([footage.a]))
        assert lib.watchlists.alerts() == []
    finally:
        lib.close()

    class FinishedJobs:  # the edge of the world: Redis's job records (workers.owner.RedisJobs)
        def sync(self, catalog):
            return [r.video_id]

        def forget(self, video_id):
            pass

    from vidsearch.library import Library

    lib = Library(lib.settings, encoders=encoders, jobs=FinishedJobs())
    try:
        assert [a.video_id for a in lib.watchlists.alerts()] == [r.video_id]
    finally:
        lib.close()


def test_an_image_alert_needs_local_features_shared_with_the_picture(footage, encoders):
    """At a threshold low enough for the copy score to pass every shot, only the shot that holds the
    picture shares enough ORB inliers with it; with the check off, the score alone alerts on b too."""
    for confirm, expect_b in (("1", False), ("0", True)):
        lib = open_library(footage.tmp / f"data{confirm}", encoders, VIDSEARCH_WATCHLIST_CONFIRM=confirm)
        try:
            w = lib.watchlists.add("fractal", "image", image=str(footage.still), threshold=-1.0)
            assert w.vectors["orb_desc"].dtype == np.uint8 and len(w.vectors["orb_points"]) >= 30
            ids = {r.path: r.video_id for r in lib.ingest([footage.a, footage.b])}
            alerted = {a.video_id for a in lib.watchlists.alerts()}
            assert ids[str(footage.a)] in alerted
            assert (ids[str(footage.b)] in alerted) is expect_b
            assert lib.watchlists.get("fractal").vectors["orb_desc"].shape[1] == 32  # kept in SQLite
        finally:
            lib.close()


def test_a_look_alike_room_alerts_nothing(tmp_path, shared_videos, encoders):
    """demo_skeleton.mp4 is another recording of the NTU room by the same fixed camera: the copy
    score of a still of S001C001P001R001A001_rgb.avi reaches ~0.6 on it, its local features ~20."""
    from tests.conftest import frame_at

    src, look = shared_videos / "S001C001P001R001A001_rgb.avi", shared_videos / "demo_skeleton.mp4"
    lib = open_library(tmp_path / "data", encoders)
    try:
        for t in (0.9, 1.7, 2.6):
            lib.watchlists.add(f"drink {t}", "image", image=str(frame_at(src, t, tmp_path / f"{t}.png")))
        ids = {r.path: r.video_id for r in lib.ingest([src, look])}
        by_video = {}
        for a in lib.watchlists.alerts():
            by_video.setdefault(a.video_id, set()).add(a.watchlist)
        assert len(by_video.get(ids[str(src)], ())) == 3
        assert ids[str(look)] not in by_video
    finally:
        lib.close()
