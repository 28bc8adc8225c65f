"""Workers that write the store themselves (DirectWriter): the Qdrant-server code path, with
qdrant-client's local mode standing in for the server (one worker process may own its folder).
Also a watch folder feeding the workers: camera and wall-clock start reach catalog and payloads."""
from __future__ import annotations

import time
import uuid
from datetime import datetime

import numpy as np
import pytest

from tests.conftest import make_scenes
from tests.workers.conftest import Workers, _drop_prefix, vidsearch, worker_env
from tests.workers.points import assert_exactly_once
from vidsearch.config import Settings
from vidsearch.library import Library
from workers.jobs import JobStore
from workers.owner import library_jobs


@pytest.fixture
def direct(redis_base, tmp_path):
    prefix = f"vstest-{uuid.uuid4().hex[:10]}"
    env = worker_env(tmp_path / "data", redis_base, prefix, SAMPLE_FPS=2, CHUNK_SECONDS=4,
                     QDRANT_URL=f"path:{tmp_path / 'qdrant'}")
    settings = Settings.from_env(env)
    jobs = JobStore.from_settings(settings)
    workers = Workers(env, 1, tmp_path / "logs")
    try:
        workers.wait_ready(jobs, 1)
        yield env, settings, jobs, workers
    finally:
        workers.stop()
        _drop_prefix(redis_base, prefix)


def test_workers_write_a_server_store_and_watch_folders_reach_it(direct, tmp_path):
    env, settings, jobs, workers = direct
    a = make_scenes(tmp_path / "a.mp4", ["testsrc2", "smptebars"], seconds=5)
    p = vidsearch(env, "ingest", str(a), "--wait")
    assert "1 indexed" in p.stdout, p.stdout + p.stderr

    cam = tmp_path / "cam"
    cam.mkdir()
    rec = make_scenes(cam / "gate1_20240102_030405.mp4", ["mandelbrot", "cellauto", "rgbtestsrc"], seconds=3)
    w = vidsearch(env, "watch", str(cam), "--camera", "gate-1", "--pattern", "%Y%m%d_%H%M%S", "--once",
                  "--stable", "0.5", "--interval", "0.2")
    assert w.stdout.count("queued") == 1 and "camera=gate-1" in w.stdout, w.stdout
    deadline = time.monotonic() + 90
    while not any(j.path == str(rec) and j.status == "done" for j in jobs.list()):
        assert time.monotonic() < deadline, [j.to_dict() for j in jobs.list()]
        time.sleep(0.2)
    cam_job = next(j for j in jobs.list() if j.path == str(rec))
    assert cam_job.writer == "direct" and cam_job.chunks == 3
    workers.stop()  # releases qdrant-client's local folder

    start = datetime(2024, 1, 2, 3, 4, 5).timestamp()  # a name without an offset is local time
    with Library(settings, jobs=library_jobs(settings)) as lib:  # opening takes in the finished jobs
        assert {v.path: v.status for v in lib.videos()} == {str(a): "indexed", str(rec): "indexed"}
        video = lib.video(cam_job.video_id)
        assert (video.camera, video.wall_start) == ("gate-1", pytest.approx(start))
        for path, vid in ((a, next(v.id for v in lib.videos() if v.path == str(a))), (rec, cam_job.video_id)):
            frames, segments = assert_exactly_once(lib.store, vid, path, settings)
            assert (lib.video(vid).frames, lib.video(vid).segments) == (frames, segments)
        probe = np.full(512, 1 / np.sqrt(512), np.float32)
        hits = lib.store.search_frames("copy", probe, 1000, camera="gate-1")
        assert hits and {h.video_id for h in hits} == {cam_job.video_id}
        assert lib.store.search_frames("copy", probe, 10, camera="gate-2") == []
        late = lib.store.search_frames("copy", probe, 1000, camera="gate-1", wall_after=start + 5, wall_before=start + 100)
        assert late and all(h.timestamp >= 5 - 1e-6 for h in late) and len(late) < len(hits)
        assert (settings.thumbnails_dir / cam_job.video_id).is_dir()
