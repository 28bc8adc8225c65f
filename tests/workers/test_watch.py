"""Watch folders: a recording is handed on once, only when complete, with camera and start time."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from tests.conftest import make_video
from vidsearch.ingest import watch as watch_mod
from vidsearch.ingest.watch import FolderWatch, parse_creation_time, pattern_regex, wall_start_from_name
from vidsearch.library import Library
from workers.owner import library_jobs


def test_start_times_from_names_and_metadata():
    assert wall_start_from_name("gate1_20240102_030405.mp4", "%Y%m%d_%H%M%S") == datetime(2024, 1, 2, 3, 4, 5).timestamp()
    assert wall_start_from_name("cam-2024-01-02T03.04.05+0100.mkv", "%Y-%m-%dT%H.%M.%S%z", utc=True) == \
        datetime(2024, 1, 2, 2, 4, 5, tzinfo=timezone.utc).timestamp()
    assert wall_start_from_name("x_20240102_030405.mp4", "%Y%m%d_%H%M%S", utc=True) == \
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
    assert wall_start_from_name("no-date-here.mp4", "%Y%m%d_%H%M%S") is None
    assert wall_start_from_name("x_20241345_030405.mp4", "%Y%m%d_%H%M%S") is None  # month 13
    assert parse_creation_time("2024-05-06T07:08:09.000000Z") == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc).timestamp()
    assert parse_creation_time("1970-01-01T00:00:00Z") is None and parse_creation_time("garbage") is None
    with pytest.raises(ValueError, match="unsupported directive"):
        pattern_regex("%Q")


def _write_in_pieces(path, data: bytes, pieces: int, pause: float, *, keep_open: bool, long_pause_after: int | None,
                     long_pause: float, done: dict) -> None:
    step = -(-len(data) // pieces)
    f = open(path, "wb") if keep_open else None
    for i in range(pieces):
        chunk = data[i * step : (i + 1) * step]
        if keep_open:
            f.write(chunk)
            f.flush()
        else:
            with open(path, "ab") as g:
                g.write(chunk)
        if i == long_pause_after:
            done["paused"] = time.monotonic()
            time.sleep(long_pause)
            done["resumed"] = time.monotonic()
        elif i < pieces - 1:
            time.sleep(pause)
    if f is not None:
        f.close()
    done["closed"] = time.monotonic()


def test_growing_recordings_are_indexed_once_and_only_when_complete(tmp_path, settings, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    ts = make_video(src / "a.ts", duration=6, source="testsrc2", codec="libx264")  # readable while half-written
    mkv = make_video(src / "b.mkv", duration=5, source="smptebars",
                     extra_output=["-metadata", "creation_time=2024-05-06T07:08:09Z"])
    folder = tmp_path / "cam"
    folder.mkdir()
    a, b = folder / "gate1_20240102_030405.ts", folder / "b.mkv"
    state_a: dict = {}
    state_b: dict = {}
    # a: one handle kept open, a 4 s pause (longer than "stable") half-way: only the open handle tells.
    # The control below runs from 1.6 s into the pause; the loop may be busy indexing b meanwhile
    # (over a second on 2 loaded cores), so the pause leaves it 2.4 s to get there.
    ta = threading.Thread(target=_write_in_pieces, args=(a, ts.read_bytes(), 4, 0.2),
                          kwargs=dict(keep_open=True, long_pause_after=1, long_pause=4.0, done=state_a))
    # b: appended piece by piece, closed in between, pauses shorter than "stable"
    tb = threading.Thread(target=_write_in_pieces, args=(b, mkv.read_bytes(), 6, 0.4),
                          kwargs=dict(keep_open=False, long_pause_after=None, long_pause=0, done=state_b))
    watch = FolderWatch(folder, stable=1.0)
    handed: list = []
    control_saw_a = False
    settings = settings.with_(semantic=False, device="cpu")
    with Library(settings, jobs=library_jobs(settings)) as lib:
        ta.start()
        tb.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (ta.is_alive() or tb.is_alive() or len(handed) < 2):
            for rec in watch.scan():
                handed.append((time.monotonic(), rec))
                wall, source = watch_mod.recording_start(rec.path, rec.info, pattern="%Y%m%d_%H%M%S", mtime=rec.mtime)
                r = lib.runner.ingest_file(rec.path, camera="gate-1", wall_start=wall)
                assert r.status == "indexed", r.error
            if "paused" in state_a and "resumed" not in state_a and time.monotonic() - state_a["paused"] > 1.6:
                # control: without the open-for-writing rule the half-written file would be taken now
                with monkeypatch.context() as m:
                    m.setattr(watch_mod, "open_for_writing", lambda: set())
                    control = FolderWatch(folder, stable=1.0)
                    control.scan()
                    control._seen[a].since -= 1.5  # as if it had watched the pause from its start
                    control_saw_a = any(r.path == a for r in control.scan())
            time.sleep(0.1)
        ta.join()
        tb.join()
        for _ in range(15):  # a few more scans: nothing is handed on twice
            assert watch.scan() == []
            time.sleep(0.1)
        assert control_saw_a
        assert sorted(r.path.name for _, r in handed) == sorted([a.name, b.name])
        for at, rec in handed:
            state = state_a if rec.path == a else state_b
            assert at > state["closed"] and rec.size == rec.path.stat().st_size
        videos = {v.path: v for v in lib.videos()}
        va, vb = videos[str(a)], videos[str(b)]
        assert va.status == vb.status == "indexed" and va.camera == vb.camera == "gate-1"
        assert va.wall_start == pytest.approx(datetime(2024, 1, 2, 3, 4, 5).timestamp())
        assert vb.wall_start == pytest.approx(datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc).timestamp())
        assert abs(va.duration - 6) < 0.2 and abs(vb.duration - 5) < 0.2  # the whole recordings
        assert lib.store.count_frames(va.id) >= 5
