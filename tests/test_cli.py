"""The vidsearch command, run as a user runs it: a real process per call."""
import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import frame_at, make_scenes


def run(env, *args, check=True):
    p = subprocess.run([sys.executable, "-m", "vidsearch.cli", *args], env=env, capture_output=True, text=True,
                       timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"vidsearch {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_SEMANTIC": "0"}


def test_ingest_search_videos_delete(env, tmp_path):
    folder = tmp_path / "footage"
    folder.mkdir()
    make_scenes(folder / "cam1.mp4", ["testsrc2", "mandelbrot"], seconds=4)
    # seed 1: the ingest takes the 5-6 s texture for a still run (tests/search/test_refine.py)
    make_scenes(folder / "cam2.mp4", ["smptebars", "cellauto=seed=1"], seconds=4)
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)

    p = run(env, "ingest", str(folder), check=False)
    assert p.returncode == 1  # one file failed ...
    assert p.stdout.count("indexed ") == 2  # ... and the others were indexed
    assert f"{folder / 'broken.mp4'}:" in p.stderr

    again = run(env, "ingest", str(folder / "cam1.mp4"))
    assert "skipped" in again.stdout
    t0 = time.perf_counter()
    (forced,) = json.loads(run(env, "ingest", "--json", "--force", str(folder / "cam1.mp4")).stdout)["results"]
    wall = time.perf_counter() - t0
    times = forced["times"]
    stages = sum(v for k, v in times.items() if k != "total")  # the main thread's stages run one after another
    assert forced["status"] == "indexed" and 0.5 * times["total"] <= stages <= times["total"] + 1e-3 < wall

    still = frame_at(folder / "cam2.mp4", 6.0, tmp_path / "still.png")
    out = json.loads(run(env, "search", "--image", str(still), "--json", "--limit", "3").stdout)
    assert 1 <= len(out["results"]) <= 3
    best = out["results"][0]
    assert set(best) == {"video_id", "path", "start", "end", "timestamp", "score", "thumbnail", "confidence", "why"}
    assert best["confidence"] == "same footage" and set(out) == {"results", "weak", "next_offset"}
    assert best["path"] == str(folder / "cam2.mp4")
    assert abs(best["timestamp"] - 6.0) <= 1.0 and best["start"] <= best["timestamp"] <= best["end"]
    assert os.path.exists(best["thumbnail"])

    text = run(env, "search", "--image", str(still)).stdout
    assert "cam2.mp4" in text.splitlines()[0]

    videos = json.loads(run(env, "videos", "--json").stdout)["videos"]
    assert sorted(v["status"] for v in videos) == ["failed", "indexed", "indexed"]
    assert run(env, "delete", best["video_id"]).returncode == 0
    assert run(env, "delete", best["video_id"], check=False).returncode == 1
    assert len(json.loads(run(env, "videos", "--json").stdout)["videos"]) == 2


def test_clear_errors_for_bad_queries(env, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    p = run(env, "search", "--image", str(bad), check=False)
    assert p.returncode == 2 and str(bad) in p.stderr and "Traceback" not in p.stderr
    p = run(env, "search", "--image", str(tmp_path / "missing.png"), check=False)
    assert p.returncode == 2 and "no such file" in p.stderr
    p = run({**env, "VIDSEARCH_DEVICE": "tpu"}, "videos", check=False)
    assert p.returncode == 2 and "VIDSEARCH_DEVICE" in p.stderr


def test_search_and_dedup_by_clip(env, tmp_path):
    from tests.search import clipfixtures as cf

    folder = tmp_path / "archive"
    folder.mkdir()
    video = cf.scenes(folder / "a.mp4", cf.INSETS[:3])
    other = cf.scenes(tmp_path / "never.mp4", [cf.PLASMA, cf.RINGS])
    run(env, "ingest", str(folder))
    copy = cf.cut(video, 3.0, 6.0, tmp_path / "upload.mp4", "crop70")

    found = json.loads(run(env, "search", "--clip", str(copy), "--json").stdout)["results"]
    assert found[0]["path"] == str(video)
    assert {"start", "end", "timestamp", "score", "query_start", "query_end"} <= set(found[0])
    assert cf.iou((found[0]["start"], found[0]["end"]), (3.0, 9.0)) >= 0.5
    assert "clip 0:0" in run(env, "search", "--clip", str(copy)).stdout.splitlines()[0]

    out = json.loads(run(env, "dedup", "--clip", str(copy), "--json").stdout)
    (m,) = out["matches"]
    assert set(m) == {"video_id", "path", "ref_start", "ref_end", "query_start", "query_end", "score"}
    assert m["path"] == str(video) and cf.iou((m["ref_start"], m["ref_end"]), (3.0, 9.0)) >= 0.5
    assert json.loads(run(env, "dedup", "--clip", str(other), "--json").stdout) == {"matches": []}
    assert "no copies found" in run(env, "dedup", "--clip", str(other)).stdout

    csv = run(env, "dedup", "--all", "--csv").stdout.splitlines()
    assert csv == ["query_video_id,query_path,query_start,query_end,video_id,path,ref_start,ref_end,score"]
    assert json.loads(run(env, "dedup", "--all", "--json").stdout) == {"matches": []}

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 500)
    for args in (("search", "--clip", str(bad)), ("dedup", "--clip", str(bad), "--json")):
        p = run(env, *args, check=False)
        assert p.returncode == 2 and str(bad) in p.stderr and "Traceback" not in p.stderr


def test_a_query_clip_over_the_length_limit_is_refused(env, tmp_path):
    """VIDSEARCH_MAX_QUERY_CLIP_S (here 60 s) is checked from the probed duration, before decoding."""
    long = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=black:size=64x64:rate=1", "-t", "600",
                    "-c:v", "libx264", "-preset", "ultrafast", str(long)], check=True)
    env = {**env, "VIDSEARCH_MAX_QUERY_CLIP_S": "60"}
    for args in (("search", "--clip", str(long)), ("dedup", "--clip", str(long), "--json")):
        p = run(env, *args, check=False)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert str(long) in p.stderr and "600.0 s long" in p.stderr and "at most 60 s" in p.stderr


def test_export_a_clip_and_a_still(env, tmp_path):
    from tests.conftest import make_video

    video = make_video(tmp_path / "gate.mp4", duration=6, extra_output=["-g", "25"])
    env = {**env, "VIDSEARCH_OCR": "0", "VIDSEARCH_CONCEPTS": "0", "VIDSEARCH_MAX_EXPORT_S": "4"}
    vid = run(env, "ingest", str(video)).stdout.split()[1]
    p = run(env, "export", vid, "--start", "1", "--end", "0:03", "-o", str(tmp_path / "clip.mp4"))
    assert "stream copy" in p.stdout and "0:01.000-0:03.000" in p.stdout
    dur = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                          str(tmp_path / "clip.mp4")], capture_output=True, text=True, check=True).stdout
    assert abs(float(dur) - 2.0) < 0.3  # a copy may end a few frames late (B-frames)
    p = run(env, "export", vid, "--start", "1.5", "--end", "3", "-o", str(tmp_path / "cut.mp4"))
    assert "transcoded" in p.stdout
    run(env, "export", vid, "--at", "2.5", "-o", str(tmp_path / "still.jpg"))
    assert (tmp_path / "still.jpg").read_bytes()[:2] == b"\xff\xd8"
    for args, words in ((["--start", "0", "--end", "5"], "VIDSEARCH_MAX_EXPORT_S"),
                        (["--start", "3", "--end", "2"], "must be after --start"),
                        (["--at", "9"], "outside the video"),
                        (["--start", "1"], "needs --start and --end"),
                        (["--at", "1", "--start", "0", "--end", "1"], "not both")):
        p = run(env, "export", vid, *args, "-o", str(tmp_path / "x.mp4"), check=False)
        assert p.returncode == 2 and words in p.stderr, (args, p.stderr)
    p = run(env, "export", "nope", "--at", "1", "-o", str(tmp_path / "x.jpg"), check=False)
    assert p.returncode == 2 and "no video with id 'nope'" in p.stderr
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "x.jpg").exists()
