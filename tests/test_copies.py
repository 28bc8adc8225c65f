"""The playable-copy cache: made in the background, within its budget, removed with its video."""
from __future__ import annotations

import os
import time

import pytest

from vidsearch.copies import PlayableCopies
from vidsearch.media.playable import inspect


def wait_ready(cache, video_id, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        state = cache.state(video_id)
        if state.status != "preparing":
            return state
        assert time.monotonic() < deadline, "still preparing"
        time.sleep(0.05)


def ask(cache, video_id, path):
    return cache.ensure(video_id, os.open(path, os.O_RDONLY), inspect(path), 3.0)


@pytest.fixture
def avis(video_factory):
    return [video_factory(f"v{i}.avi", duration=3, codec="mpeg4", source=src, size="320x240")
            for i, src in enumerate(["testsrc2", "smptebars", "mandelbrot"])]


def test_a_copy_is_made_once_and_then_ready(tmp_path, avis):
    cache = PlayableCopies(tmp_path / "playable", budget_mb=100)
    try:
        assert ask(cache, "a", avis[0]).status == "preparing"
        assert ask(cache, "a", avis[0]).status == "preparing"  # not queued twice
        assert wait_ready(cache, "a").status == "ready" and cache.path("a").stat().st_size > 0
        assert ask(cache, "a", avis[0]).status == "ready"
    finally:
        cache.stop()


def test_the_least_recently_played_copies_go_first(tmp_path, avis):
    cache = PlayableCopies(tmp_path / "playable", budget_mb=100)
    try:
        for vid, path in zip("abc", avis):
            ask(cache, vid, path)
            assert wait_ready(cache, vid).status == "ready"
        sizes = {vid: cache.path(vid).stat().st_size for vid in "abc"}
        cache.touch("a")  # played: b is now the least recently used
        os.utime(cache.path("b"), ns=(1, cache.path("b").stat().st_mtime_ns))
        mtime = cache.path("a").stat().st_mtime_ns
        cache.budget = sizes["a"] + sizes["c"] + sizes["b"] // 2  # one must go
        cache._evict(0, keep="c")
        assert sorted(p.stem for p in cache.folder.glob("*.mp4")) == ["a", "c"]
        assert cache.path("a").stat().st_mtime_ns == mtime  # touch keeps the ETag's modification time
        assert cache.used_bytes() <= cache.budget
    finally:
        cache.stop()


def test_a_copy_over_the_budget_fails_and_leaves_nothing(tmp_path, avis):
    cache = PlayableCopies(tmp_path / "playable", budget_mb=0.5)
    try:
        ask(cache, "a", avis[2])
        state = wait_ready(cache, "a")
        assert state.status == "failed" and "MiB" in state.error
        assert list(cache.folder.iterdir()) == []
        off = PlayableCopies(tmp_path / "off", budget_mb=0)
        assert ask(off, "a", avis[0]).status == "failed"
    finally:
        cache.stop()


def test_delete_stops_the_copy_and_removes_it(tmp_path, video_factory, avis):
    long = video_factory("long.avi", duration=60, codec="mpeg4", size="640x480")
    cache = PlayableCopies(tmp_path / "playable", budget_mb=500)
    try:
        ask(cache, "a", avis[0])
        wait_ready(cache, "a")
        cache.ensure("long", os.open(long, os.O_RDONLY), inspect(long), 60.0)
        deadline = time.monotonic() + 30
        while not list(cache.folder.glob(".*.part")) and time.monotonic() < deadline:
            time.sleep(0.02)
        cache.remove("long")
        assert wait_ready(cache, "long").status == "absent"
        cache.remove("a")
        assert list(cache.folder.iterdir()) == []  # no copy, no part
        ask(cache, "b", avis[1])
        wait_ready(cache, "b")
        assert cache.sweep({"x"}) == ["b"] and not cache.path("b").exists()
    finally:
        cache.stop()


def test_a_crash_mid_copy_leaves_only_a_part_which_the_next_start_removes(tmp_path, video_factory):
    """A process killed while ffmpeg writes: the final name never appears; the next cache removes the part."""
    import subprocess
    import sys

    long = video_factory("long.avi", duration=60, codec="mpeg4", size="640x480")
    folder = tmp_path / "playable"
    script = (f"import os,time; from vidsearch.copies import PlayableCopies; from vidsearch.media.playable import inspect\n"
              f"c = PlayableCopies({str(folder)!r}, budget_mb=500)\n"
              f"c.ensure('v', os.open({str(long)!r}, os.O_RDONLY), inspect({str(long)!r}), 60.0)\n"
              f"time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ})
    try:
        deadline = time.monotonic() + 60
        while not list(folder.glob(".*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.kill()
        proc.wait()
    assert list(folder.glob(".*.part")) and not (folder / "v.mp4").exists()
    time.sleep(0.5)  # its ffmpeg child may still write a little before it sees the pipe close
    cache = PlayableCopies(folder, budget_mb=500)
    try:
        assert list(folder.iterdir()) == [] and cache.state("v").status == "absent"
    finally:
        cache.stop()
