"""Batching concurrent queries: the Batcher's leader/follower protocol, and image queries that
give the same answers batched as alone (real SSCD, real store)."""
from __future__ import annotations

import threading
import time

import pytest

from vidsearch.search.batch import Batcher


def run_together(n, fn):
    start = threading.Barrier(n)
    out, errors = [None] * n, [None] * n

    def go(k):
        start.wait()
        try:
            out[k] = fn(k)
        except Exception as exc:  # kept for the test to look at
            errors[k] = exc

    threads = [threading.Thread(target=go, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out, errors


def test_a_lone_caller_runs_at_once_and_concurrent_callers_share_batches():
    sizes = []

    def run(items, factor):
        sizes.append(len(items))
        time.sleep(0.05)  # a batch takes a while: callers arriving meanwhile form the next one
        return [x * factor for x in items]

    b = Batcher(run, max_batch=8)
    t = time.perf_counter()
    assert b.submit(21, 2) == 42 and sizes == [1]
    assert time.perf_counter() - t < 0.5  # no timer to wait for

    out, errors = run_together(24, lambda k: b.submit(k, 3))
    assert errors == [None] * 24 and out == [3 * k for k in range(24)]  # each caller gets its own answer
    assert max(sizes[1:]) <= 8 and sum(sizes[1:]) == 24
    assert len(sizes) - 1 < 24  # batched: fewer runs than callers
    assert b.items == 25 and b.batches == len(sizes)


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_runs():
    fail = threading.Event()
    fail.set()

    def run(items):
        time.sleep(0.05)
        if fail.is_set():
            raise RuntimeError("store unavailable")
        return items

    b = Batcher(run)
    out, errors = run_together(6, lambda k: b.submit(k))
    assert all(isinstance(e, RuntimeError) for e in errors) and out == [None] * 6
    fail.clear()
    assert b.submit("again") == "again"


def test_batched_image_search_gives_the_answers_of_single_searches(tmp_path):
    import numpy as np

    from tests.conftest import frame_at, make_video
    from vidsearch.config import Settings
    from vidsearch.library import Library
    from vidsearch.media.image import load_image
    from vidsearch.search.batch import ImageQueryBatcher

    videos = [make_video(tmp_path / "a.mp4", source="testsrc2", duration=6),
              make_video(tmp_path / "b.mp4", source="mandelbrot=size=320x240:rate=25,trim=duration=6")]
    queries = [load_image(str(frame_at(v, t, tmp_path / f"{v.stem}_{t}.png"))) for v in videos for t in (1, 3, 5)]
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_SEMANTIC": "0",
                                  "VIDSEARCH_OCR": "0", "VIDSEARCH_CONCEPTS": "0"})
    with Library(settings) as lib:
        assert all(r.status == "indexed" for r in lib.ingest(videos))
        alone = [lib.search_image(q, limit=5, refine=False) for q in queries]  # refinement: one at a time
        batcher = ImageQueryBatcher(lib.encoders.copy.embed)
        out, errors = run_together(len(queries), lambda k: lib.search_image(queries[k], limit=5, batcher=batcher,
                                                                            refine=False))
    assert errors == [None] * len(queries)
    for want, got in zip(alone, out):
        assert [(m.video_id, m.start, m.end, m.timestamp) for m in got] == \
               [(m.video_id, m.start, m.end, m.timestamp) for m in want]
        assert np.allclose([m.score for m in got], [m.score for m in want], atol=1e-3)
    assert batcher.batcher.items == len(queries) and batcher.batcher.batches < len(queries)


def test_with_more_callers_waiting_than_a_batch_holds_every_caller_gets_its_own_answer():
    def run(items):
        time.sleep(0.02)
        return [x + 100 for x in items]

    b = Batcher(run, max_batch=2)  # 12 callers: most batches leave callers waiting for later ones
    for _ in range(3):
        out, errors = run_together(12, lambda k: b.submit(k))
        assert errors == [None] * 12 and out == [k + 100 for k in range(12)]
