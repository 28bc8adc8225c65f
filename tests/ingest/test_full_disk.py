"""A full data disk (issue 13, item 3), on a real tmpfs the test mounts: an ingest that fills it
stops with a clear error and its process lives; on the full disk the store opens read-only (no
SIGBUS), ``vidsearch videos`` and searches work; once space is freed ingests work again, and the
earlier videos give the same search results. The store runs in child processes: a SIGBUS kills
the process it hits (on the code before the fix, these children died of it).

Needs root (``mount -t tmpfs``): skipped, saying why, where mounting is not possible.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import make_scenes, make_video

REPO = Path(__file__).resolve().parents[2]
TMPFS_MB = 640  # the embedded store backs ~400 MiB of mapped files on tmpfs, even nearly empty
CHILD_ENV = {"VIDSEARCH_SAMPLE_FPS": "4", "VIDSEARCH_SEMANTIC": "0", "VIDSEARCH_CONCEPTS": "0",
             "VIDSEARCH_OCR": "0", "VIDSEARCH_DEVICE": "cpu", "VIDSEARCH_MIN_FREE_MB": "64"}


@pytest.fixture
def small_disk(tmp_path):
    """A ``TMPFS_MB`` MiB tmpfs mounted for the test, unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path, leave_mb: float = 0) -> Path:
    """Take the disk's free space but ``leave_mb`` MiB with a filler file (grown, never shrunk)."""
    filler = disk / f"filler{len(list(disk.glob('filler*')))}"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    size = max(0, free - int(leave_mb * 2**20))
    with open(filler, "wb") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, size) if size else None
        except OSError:
            pass
    return filler


def run_cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(REPO), "VIDSEARCH_DATA_DIR": str(data)}
    return subprocess.run([sys.executable, "-m", "vidsearch.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)


# an ingest whose progress callback fills the disk (but 20 MiB) after its first chunk
FILLING_INGEST = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from vidsearch.config import Settings
    from vidsearch.library import Library
    disk, video = Path(sys.argv[1]), sys.argv[2]
    def progress(path):
        def update(done, duration):
            if not (disk / "filler-mid").exists():
                st = os.statvfs(disk)
                with open(disk / "filler-mid", "wb") as f:
                    os.posix_fallocate(f.fileno(), 0, st.f_bavail * st.f_frsize - 20 * 2**20)
        return update
    with Library(Settings.from_env()) as lib:
        (r,) = list(lib.ingest([video], progress=progress))
        print(json.dumps(r.to_dict()))
""")


def search(data: Path, clip: Path) -> list:
    out = run_cli(data, "search", "--clip", str(clip), "--json")
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    return hits.get("results", hits) if isinstance(hits, dict) else hits


def test_a_full_disk_stops_writes_keeps_searches_and_loses_nothing(small_disk, tmp_path):
    data = small_disk / "data"
    first = make_video(tmp_path / "first.mp4", duration=4)
    long = make_scenes(tmp_path / "long.mp4", ["smptebars", "mandelbrot", "rgbtestsrc", "testsrc"], seconds=8)
    later = make_video(tmp_path / "later.mp4", source="mandelbrot", duration=4)

    out = run_cli(data, "ingest", "--json", str(first))
    assert out.returncode == 0, out.stderr
    before = search(data, first)
    assert before, "the first video is found by its own footage"

    # the disk fills while a video is indexed: the ingest stops with a clear error, the process lives
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(REPO), "VIDSEARCH_DATA_DIR": str(data),
           "VIDSEARCH_DECODE_CHUNK": "8"}
    child = subprocess.run([sys.executable, "-c", FILLING_INGEST, str(small_disk), str(long)], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, f"the ingesting process died ({child.returncode}): {child.stderr[-2000:]}"
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["status"] == "failed" and result["error"].startswith(f"{long}: stopped: "), result
    assert "not enough free disk space" in result["error"] and "VIDSEARCH_MIN_FREE_MB" in result["error"]

    # now the disk is full to the last byte: the store opens read-only, says so, and answers
    fill(small_disk)
    listed = run_cli(data, "videos", "--json")
    assert listed.returncode == 0, f"vidsearch videos died ({listed.returncode}): {listed.stderr[-2000:]}"
    assert "read-only" in listed.stderr and "disk space" in listed.stderr, listed.stderr
    status = {Path(v["path"]).name: v["status"] for v in json.loads(listed.stdout)["videos"]}
    assert status == {"first.mp4": "indexed", "long.mp4": "failed"}
    assert search(data, first) == before
    refused = run_cli(data, "ingest", "--json", str(later))
    assert refused.returncode == 1, refused.stderr  # a file failed; the process lived
    (r,) = json.loads(refused.stdout)["results"]
    assert r["status"] == "failed" and str(later) in r["error"] and "disk space" in r["error"], r

    # space freed: ingests work again, and the earlier video searches as before
    for filler in small_disk.glob("filler*"):
        filler.unlink()
    out = run_cli(data, "ingest", "--json", str(later), str(long))
    assert out.returncode == 0, out.stderr
    assert [r["status"] for r in json.loads(out.stdout)["results"]] == ["indexed", "indexed"], out.stdout
    assert [h for h in search(data, first) if h["path"] == str(first)] == before
    listed = run_cli(data, "videos", "--json")
    assert listed.returncode == 0 and "read-only" not in listed.stderr
    assert {v["status"] for v in json.loads(listed.stdout)["videos"]} == {"indexed"}


def test_the_store_opens_read_only_on_a_disk_full_to_the_last_byte(small_disk, tmp_path):
    data = small_disk / "data"
    first = make_video(tmp_path / "first.mp4", duration=4)
    assert run_cli(data, "ingest", "--json", str(first)).returncode == 0
    before = search(data, first)
    fill(small_disk)  # filled by someone else while the store was closed
    listed = run_cli(data, "videos")
    assert listed.returncode == 0, f"vidsearch videos died ({listed.returncode}): {listed.stderr[-2000:]}"
    assert "read-only" in listed.stderr and "first.mp4" in listed.stdout
    assert search(data, first) == before
