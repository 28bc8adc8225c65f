"""`vidsearch serve`: a real process that owns the library until it is stopped, and the CLI that
works through it meanwhile (as the docker CLI talks to its daemon)."""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import frame_at, make_scenes

REPO = Path(__file__).resolve().parents[2]


def _env(data: Path) -> dict:
    return {**os.environ, "VIDSEARCH_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1", "VIDSEARCH_SEMANTIC": "0",
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@contextmanager
def running_server(data: Path):
    proc = subprocess.Popen([sys.executable, "-m", "vidsearch.cli", "serve", "--port", "0", "--threads", "2"],
                            cwd=REPO, env=_env(data), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL printed: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield proc, match.group(0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def cli(data: Path, *args, check=True):
    p = subprocess.run([sys.executable, "-m", "vidsearch.cli", *args], cwd=REPO, env=_env(data),
                       capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"vidsearch {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def test_serve_owns_the_library_until_stopped(tmp_path):
    from vidsearch.config import Settings
    from vidsearch.index.lock import StoreLocked
    from vidsearch.library import Library

    data = tmp_path / "data"
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(data)})
    with running_server(data) as (proc, url):
        with urllib.request.urlopen(url + "healthz", timeout=30) as r:
            health = json.load(r)
        assert health["status"] == "ok" and health["videos"] == 0 and health["models"] in ("loading", "ready")
        deadline = time.monotonic() + 300  # the server loads its models in the background
        while health["models"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.5)
            with urllib.request.urlopen(url + "healthz", timeout=30) as r:
                health = json.load(r)
        assert health["models"] == "ready"
        with pytest.raises(StoreLocked):
            Library(settings)
        info = json.loads(settings.server_info_path.read_text())
        assert info["url"] + "/" == url and info["pid"] == proc.pid and len(info["token"]) >= 32
        assert stat.S_IMODE(settings.server_info_path.stat().st_mode) == 0o600  # the token is a credential
    assert not settings.server_info_path.exists()  # removed on exit
    Library(settings).close()  # the lock was released


def test_the_cli_works_through_a_running_server(tmp_path):
    data = tmp_path / "data"
    folder = tmp_path / "footage"
    folder.mkdir()
    make_scenes(folder / "cam1.mp4", ["testsrc2", "smptebars"], seconds=3)
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)
    still = frame_at(folder / "cam1.mp4", 4.5, tmp_path / "still.png")

    with running_server(data):
        p = cli(data, "ingest", str(folder), check=False)
        assert p.returncode == 1, p.stderr  # one file failed, as without a server ...
        assert p.stdout.count("indexed ") == 1 and str(folder / "cam1.mp4") in p.stdout
        assert f"FAILED   {folder / 'broken.mp4'}:" in p.stderr and "Traceback" not in p.stderr
        assert "skipped" in cli(data, "ingest", str(folder / "cam1.mp4")).stdout
        missing = cli(data, "ingest", str(tmp_path / "nope.mp4"), check=False)
        assert missing.returncode == 1 and "No such file" in missing.stderr

        remote = json.loads(cli(data, "search", "--image", str(still), "--json", "--limit", "3").stdout)
        best = remote["results"][0]
        assert best["path"] == str(folder / "cam1.mp4") and best["start"] <= 4.5 <= best["end"]
        assert set(best) == {"video_id", "path", "start", "end", "timestamp", "score", "thumbnail", "confidence", "why"}
        assert "cam1.mp4" in cli(data, "search", "--image", str(still)).stdout.splitlines()[0]
        bad = cli(data, "search", "--image", str(still), "--region", "5000,5000,5,5", check=False)
        assert bad.returncode == 2 and "region" in bad.stderr

        excerpt = tmp_path / "excerpt.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "3", "-t", "3", "-i", str(folder / "cam1.mp4"),
                        "-vf", "scale=240:-2", "-c:v", "libx264", "-preset", "veryfast", str(excerpt)], check=True)
        clip_hits = json.loads(cli(data, "search", "--clip", str(excerpt), "--json").stdout)["results"]
        assert clip_hits and clip_hits[0]["path"] == str(folder / "cam1.mp4") and "query_start" in clip_hits[0]
        copies = json.loads(cli(data, "dedup", "--clip", str(excerpt), "--json").stdout)["matches"]
        assert copies and copies[0]["path"] == str(folder / "cam1.mp4") and "ref_thumbnail_url" not in copies[0]
        all_ = cli(data, "dedup", "--all", check=False)
        assert all_.returncode == 2 and "stop the server" in all_.stderr

        videos = json.loads(cli(data, "videos", "--json").stdout)["videos"]
        assert sorted(v["status"] for v in videos) == ["failed", "indexed"]
        assert "stream_url" not in videos[0]  # the CLI's own shape
        failed = next(v for v in videos if v["status"] == "failed")
        assert cli(data, "delete", failed["id"]).stdout.strip() == f"deleted {failed['id']}"
        gone = cli(data, "delete", failed["id"], check=False)
        assert gone.returncode == 1 and "no video with id" in gone.stderr

    # the same query without a server gives the same answer
    local = json.loads(cli(data, "search", "--image", str(still), "--json", "--limit", "3").stdout)
    assert local == remote
    assert [v["status"] for v in json.loads(cli(data, "videos", "--json").stdout)["videos"]] == ["indexed"]


def test_a_stale_server_file_is_ignored(tmp_path):
    from vidsearch.config import Settings

    data = tmp_path / "data"
    data.mkdir()
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(data)})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    settings.server_info_path.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": int(dead.stdout), "token": "x"}))
    p = cli(data, "videos")  # no server, no lock holder: the CLI opens the library itself
    assert "no videos indexed yet" in p.stdout


def test_serve_sweeps_upload_leftovers_at_start(tmp_path):
    """Issue 13: ``kill -9`` mid-upload left its ``.part-*.upload`` file for good, and uploads that
    no catalog record referred to stayed. The server owns the data folder at start: both go, and an
    upload the catalog refers to stays."""
    from vidsearch.catalog import VideoRecord
    from vidsearch.config import Settings
    from vidsearch.library import Library

    data = tmp_path / "data"
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(data), "VIDSEARCH_SEMANTIC": "0"})
    uploads = settings.uploads_dir
    used, orphan = uploads / "0123456789abcdef" / "used.mp4", uploads / "fedcba9876543210" / "orphan.mp4"
    for path in (used, orphan):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\x00" * 4096)
    part = uploads / ".part-k1ll3d.upload"
    part.write_bytes(b"\x00" * 8192)  # fresh: no other server can be writing it (this one owns the folder)
    mine = uploads / "not-generated"  # not a folder the server made: not its to remove
    mine.mkdir()
    (mine / "x.mp4").write_bytes(b"x")
    with Library(settings) as lib:
        lib.catalog.upsert(VideoRecord(id="00000000000000aa", path=str(used), status="indexed", size=4096, mtime=0.0))
    with running_server(data):
        assert not part.exists() and not orphan.exists() and not orphan.parent.exists()
        assert used.exists() and (mine / "x.mp4").exists()


def test_upload_leftovers_of_another_server_are_swept_only_when_stale(tmp_path):
    from web.uploads import STALE_S, sweep_uploads

    fresh, old = tmp_path / ".part-fresh.upload", tmp_path / ".part-old.upload"
    folder = tmp_path / "00112233445566ff"
    folder.mkdir()
    for path in (fresh, old, folder / "v.mp4"):
        path.write_bytes(b"\x00" * 100)
    long_ago = time.time() - STALE_S - 60
    os.utime(old, (long_ago, long_ago))
    assert sweep_uploads(tmp_path, [], stale_after=STALE_S) == (1, 100)
    assert fresh.exists() and not old.exists() and (folder / "v.mp4").exists()  # a folder just made stays
    for path in (folder / "v.mp4", folder):
        os.utime(path, (long_ago, long_ago))
    assert sweep_uploads(tmp_path, [folder / "v.mp4"], stale_after=STALE_S) == (0, 0)  # in use
    assert sweep_uploads(tmp_path, [], stale_after=STALE_S) == (1, 100) and not folder.exists()


def test_stale_exports_are_swept(tmp_path):
    import os
    import time

    from web.server import sweep_exports

    old, new = tmp_path / "clip-old.mp4", tmp_path / ".clip-new.mp4.part"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    sweep_exports(tmp_path)
    assert not old.exists() and new.exists()  # a clip being cut right now stays
    sweep_exports(tmp_path / "missing")  # no folder yet: nothing to do
