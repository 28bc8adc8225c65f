"""Crash safety of the catalog, the embedded vector store and the thumbnails, together.

A real child process owns the data folder (embedded Qdrant Edge store, SQLite catalog, thumbnail
JPEGs) and keeps indexing, re-indexing and deleting small ffmpeg-made videos; the test ``kill -9``s
it at a random moment (seeded), 20 times. After every kill the test reopens the folder itself and
checks that it is consistent:

* every video the catalog calls ``indexed`` has exactly the frames and segments its record counts
  in the store, and one readable thumbnail per segment;
* no point and no thumbnail folder belongs to a video the catalog does not know (a delete that was
  cut short is finished on reopen);
* what was cut short is ``indexing`` (or ``queued``), never ``failed``.

The next child first resumes the interrupted videos (``Library.resume``: it must pick up exactly the
ones the check found ``indexing``) and runs the same ingest again, then reports every video's frame
timestamps and segment indexes: they must equal those of a clean ingest of the same files, so
nothing is lost and nothing is doubled. Then it goes back to work until the next kill.

The encoders are cut to the copy descriptor (SSCD) at 4 samples per second: what is under test is
the order and durability of the writes, and a child loads its models in ~1 s instead of ~4 s.

``python tests/test_crash_safety.py work|finish DATA_DIR SEED VIDEO...`` is the child.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRIALS = 20
SEED = 20261123
MAX_DELAY = 1.5  # seconds of work before the kill, drawn uniformly from [0, MAX_DELAY)
CHILD_ENV = {"VIDSEARCH_SAMPLE_FPS": "4", "VIDSEARCH_SEMANTIC": "0", "VIDSEARCH_CONCEPTS": "0",
             "VIDSEARCH_OCR": "0", "VIDSEARCH_DEVICE": "cpu"}
READY_TIMEOUT = 180.0


def _settings(data_dir: str | Path):
    from vidsearch.config import Settings

    return Settings.from_env({"VIDSEARCH_DATA_DIR": str(data_dir), **CHILD_ENV})


def _any_vector(dim: int):
    import numpy as np

    v = np.ones(dim, dtype=np.float32)
    return v / np.linalg.norm(v)


def store_contents(lib) -> dict:
    """Per video id: its catalog status and counts, and what the store and thumbnails hold of it."""
    from vidsearch.index.store import COPY

    out = {}
    for rec in lib.videos():
        frames = sorted(round(t, 4) for t, _, _ in lib.store.frames_of(rec.id))
        segments = sorted(seg.index for seg, _ in lib.store.search_segments(COPY, _any_vector(lib.store.dims[COPY]),
                                                                             100_000, video_id=rec.id))
        folder = lib.settings.thumbnails_dir / rec.id
        thumbs = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        out[rec.id] = {"path": rec.path, "status": rec.status, "rec_frames": rec.frames, "rec_segments": rec.segments,
                       "frames": frames, "segments": segments, "thumbnails": thumbs,
                       "count_frames": lib.store.count_frames(rec.id), "count_segments": lib.store.count_segments(rec.id)}
    return out


# -- the child ---------------------------------------------------------------------------------
def _say(**event) -> None:
    print(json.dumps(event), flush=True)


def child(mode: str, data_dir: str, seed: int, videos: list[str]) -> int:
    from vidsearch.catalog import content_id
    from vidsearch.library import Library

    lib = Library(_settings(data_dir))
    resumed = [r.video_id for r in lib.resume()]
    again = [r.status for r in lib.ingest(videos)]  # the user runs the same ingest again
    _say(event="ready", resumed=resumed, ingest=again, contents=store_contents(lib),
         total_frames=lib.store.count_frames(), total_segments=lib.store.count_segments())
    if mode == "finish":
        lib.close()
        return 0
    rng = random.Random(seed)
    ids = {v: content_id(v) for v in videos}
    while True:  # until killed
        v = rng.choice(videos)
        if rng.random() < 0.5:
            _say(event="op", op="reindex", video=Path(v).name, t=time.time())
            list(lib.ingest([v], force=True))
        else:
            _say(event="op", op="delete", video=Path(v).name, t=time.time())
            lib.delete(ids[v])
            _say(event="op", op="ingest", video=Path(v).name, t=time.time())
            list(lib.ingest([v]))


# -- the parent --------------------------------------------------------------------------------
def _spawn(mode: str, data_dir: Path, seed: int, videos: list[Path], log: Path):
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(REPO)}
    out = open(log, "w")
    err = open(log.with_suffix(".err"), "w")
    proc = subprocess.Popen([sys.executable, __file__, mode, str(data_dir), str(seed), *map(str, videos)],
                            stdout=out, stderr=err, env=env, cwd=REPO)
    out.close()
    err.close()
    return proc


def _events(log: Path) -> list[dict]:
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a line cut by the kill
    return out


def _wait_ready(proc, log: Path) -> dict:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        ready = [e for e in _events(log) if e.get("event") == "ready"]
        if ready:
            return ready[0]
        if proc.poll() is not None:
            raise AssertionError(f"the child exited ({proc.returncode}) before it was ready:\n"
                                 f"{log.with_suffix('.err').read_text()[-3000:]}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the child was not ready in time")


def check_consistent(data_dir: Path) -> tuple[list[str], set[str], int]:
    """Reopen the folder as a user would. Returns (problems, interrupted ids, deletes pending before reopen)."""
    from vidsearch.library import Library

    problems: list[str] = []
    catalog = data_dir / "catalog.sqlite"
    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    try:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            problems.append("catalog integrity_check failed")
        pending_before = len(db.execute("SELECT id FROM pending_deletes").fetchall())
    finally:
        db.close()
    interrupted: set[str] = set()
    with Library(_settings(data_dir)) as lib:  # reopen: replays the store's WAL, finishes cut deletes
        contents = store_contents(lib)
        for vid, c in contents.items():
            if c["status"] == "indexed":
                if not (c["count_frames"] == c["rec_frames"] == len(c["frames"]) > 0):
                    problems.append(f"{vid} indexed with {c['rec_frames']} frames in the catalog, "
                                    f"{c['count_frames']} in the store")
                if not (c["count_segments"] == c["rec_segments"] == len(c["segments"]) > 0):
                    problems.append(f"{vid} indexed with {c['rec_segments']} segments in the catalog, "
                                    f"{c['count_segments']} in the store")
                want = [f"{i:05d}.jpg" for i in c["segments"]]
                if c["thumbnails"] != want:
                    problems.append(f"{vid} indexed with thumbnails {c['thumbnails']}, expected {want}")
                else:
                    from PIL import Image

                    for name in want:
                        with Image.open(lib.settings.thumbnails_dir / vid / name) as im:
                            im.load()  # a truncated JPEG raises
            elif c["status"] in ("indexing", "queued"):
                interrupted.add(vid)
            else:
                problems.append(f"{vid} is {c['status']} after a kill: {c}")
        if lib.store.count_frames() != sum(c["count_frames"] for c in contents.values()):
            problems.append(f"{lib.store.count_frames()} frame points, but the catalog's videos have "
                            f"{sum(c['count_frames'] for c in contents.values())}: orphans")
        if lib.store.count_segments() != sum(c["count_segments"] for c in contents.values()):
            problems.append("segment points of videos the catalog does not know")
        thumb_dirs = {p.name for p in lib.settings.thumbnails_dir.iterdir()} if lib.settings.thumbnails_dir.is_dir() else set()
        if thumb_dirs - set(contents):
            problems.append(f"thumbnail folders of unknown videos: {sorted(thumb_dirs - set(contents))}")
        if lib.catalog.pending_deletes():
            problems.append("deletes still pending after reopen")
    return problems, interrupted, pending_before


def compare(report: dict, reference: dict) -> tuple[int, int, list[str]]:
    """(lost, duplicated, problems) of a finished ingest against the clean one, by video path."""
    lost = dup = 0
    problems = []
    got = {c["path"]: c for c in report["contents"].values()}
    ref = {c["path"]: c for c in reference["contents"].values()}
    if set(got) != set(ref):
        problems.append(f"videos {sorted(got)} != {sorted(ref)}")
    for path, r in ref.items():
        g = got.get(path, {"frames": [], "segments": [], "thumbnails": [], "status": None,
                           "count_frames": 0, "count_segments": 0})
        for key in ("frames", "segments"):
            lost += len(set(r[key]) - set(g[key]))
            dup += len(set(g[key]) - set(r[key]))
        dup += (g["count_frames"] - len(g["frames"])) + (g["count_segments"] - len(g["segments"]))
        if g["status"] != "indexed" or g["thumbnails"] != r["thumbnails"]:
            problems.append(f"{path}: {g['status']}, thumbnails {g['thumbnails']} (clean: {r['thumbnails']})")
    extra = report["total_frames"] - reference["total_frames"] + report["total_segments"] - reference["total_segments"]
    if extra > 0:
        dup += extra
    return lost, dup, problems


def test_kill_9_while_ingesting_20_times(tmp_path):
    from tests.conftest import make_scenes

    videos = [
        make_scenes(tmp_path / "a.mp4", ["testsrc2", "mandelbrot"], seconds=1.5),
        make_scenes(tmp_path / "b.mp4", ["smptebars", "rgbtestsrc", "cellauto"], seconds=1.0),
        make_scenes(tmp_path / "c.mp4", ["life", "testsrc"], seconds=1.25),
        make_scenes(tmp_path / "d.mp4", ["mandelbrot", "testsrc2", "smptehdbars"], seconds=0.8),
    ]
    logs = tmp_path / "logs"
    logs.mkdir()

    # a clean ingest of the same files, in a child of the same kind
    proc = _spawn("finish", tmp_path / "clean", 0, videos, logs / "clean.log")
    reference = _wait_ready(proc, logs / "clean.log")
    assert proc.wait(60) == 0
    assert all(c["status"] == "indexed" for c in reference["contents"].values()) and len(reference["contents"]) == 4
    assert reference["total_frames"] >= 20 and reference["total_segments"] >= 8

    rng = random.Random(SEED)
    data = tmp_path / "data"
    interrupted: set[str] = set()
    rows = []
    all_problems = []
    lost_total = dup_total = 0
    for trial in range(TRIALS + 1):
        t0 = time.monotonic()
        final = trial == TRIALS
        log = logs / f"trial{trial:02d}.log"
        proc = _spawn("finish" if final else "work", data, rng.randrange(1 << 30), videos, log)
        ready = _wait_ready(proc, log)
        # what the last kill cut short was resumed, and the ingest finished: same points as a clean run
        if set(ready["resumed"]) != interrupted:
            all_problems.append(f"trial {trial}: resumed {sorted(ready['resumed'])}, interrupted {sorted(interrupted)}")
        if trial > 0:
            lost, dup, problems = compare(ready, reference)
            lost_total += lost
            dup_total += dup
            all_problems += [f"after kill {trial}: {p}" for p in problems]
            rows[-1].update(lost=lost, duplicated=dup, resumed=len(ready["resumed"]))
        if final:
            assert proc.wait(60) == 0
            break
        delay = rng.uniform(0.0, MAX_DELAY)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL  # a real kill -9, not an exit
        ops = [e for e in _events(log) if e.get("event") == "op"]
        problems, interrupted, pending = check_consistent(data)
        all_problems += [f"trial {trial} (kill during {ops[-1]['op'] if ops else 'start'}): {p}" for p in problems]
        rows.append({"trial": trial, "delay": round(delay, 3), "ops": len(ops),
                     "during": f"{ops[-1]['op']} {ops[-1]['video']}" if ops else "-",
                     "indexing": len(interrupted), "delete_pending": pending, "seconds": None})
        rows[-1]["seconds"] = round(time.monotonic() - t0, 2)

    print()
    for row in rows:
        print(json.dumps(row))
    cut = sum(1 for r in rows if r["indexing"] or r["delete_pending"])
    mean_s = sum(r["seconds"] for r in rows) / len(rows)
    print(f"kill -9 trials: {len(rows)}, cut an ingest or a delete: {cut}, lost: {lost_total}, "
          f"duplicated: {dup_total}, inconsistent: {len(all_problems)}, mean seconds per trial: {mean_s:.2f}")
    assert not all_problems, "\n".join(all_problems)
    assert lost_total == 0 and dup_total == 0
    assert len(rows) == TRIALS
    assert cut >= TRIALS // 2, f"only {cut} kills landed inside an ingest or a delete: the test is not testing much"


def test_vidsearch_ingest_resumes_what_a_killed_ingest_left(tmp_path):
    """The command line: kill -9 `vidsearch ingest` while a video is `indexing`; the next
    `vidsearch ingest --resume` (no paths) finishes it, and a plain `vidsearch ingest` has nothing left."""
    from tests.conftest import make_scenes

    videos = [make_scenes(tmp_path / f"{n}.mp4", srcs, seconds=1.0) for n, srcs in
              (("a", ["testsrc2", "mandelbrot"]), ("b", ["smptebars", "cellauto"]), ("c", ["life", "rgbtestsrc"]))]
    data = tmp_path / "data"
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(REPO), "VIDSEARCH_DATA_DIR": str(data)}
    cli = [sys.executable, "-m", "vidsearch.cli"]
    proc = subprocess.Popen([*cli, "ingest", *map(str, videos)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    catalog = data / "catalog.sqlite"
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if catalog.exists():
                try:
                    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1)
                    statuses = dict(db.execute("SELECT id, status FROM videos").fetchall())
                    db.close()
                except sqlite3.Error:
                    statuses = {}
                if "indexing" in statuses.values() and "indexed" in statuses.values():
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            time.sleep(0.005)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the ingest ended before a video was caught `indexing`"
    cut = {vid for vid, st in statuses.items() if st == "indexing"}

    out = subprocess.run([*cli, "ingest", "--resume", "--json"], env=env, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert {r["video_id"] for r in results} == cut and {r["status"] for r in results} == {"indexed"}
    out = subprocess.run([*cli, "ingest", "--json", *map(str, videos)], env=env, cwd=REPO, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["results"]) == 3  # nothing resumed twice: one result per file
    listed = json.loads(subprocess.run([*cli, "videos", "--json"], env=env, cwd=REPO, capture_output=True,
                                       text=True, check=True).stdout)["videos"]
    assert len(listed) == 3 and {v["status"] for v in listed} == {"indexed"}
    out = subprocess.run([*cli, "ingest", "--resume"], env=env, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "nothing to resume" in out.stderr


if __name__ == "__main__":
    sys.exit(child(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
