"""libtesseract in this process: the same words as the tesseract program, crop for crop."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from vidsearch.models import tesslib
from vidsearch.models.ocr import OcrJob, TesseractReader, _crop, text_regions, tsv_words

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="tesseract-ocr is not installed (scripts/install installs it)")


def _crops_of(frames) -> list[np.ndarray]:
    return [_crop(img, box, 2.0) for img in frames for box in text_regions(img)]


def _words_both_ways(crops: list[np.ndarray], retry_inverted: bool) -> tuple[list, list]:
    """Each crop's (word, confidence) rows, read by the program (one run, a list file) and by the library."""
    program = TesseractReader(retry_inverted=retry_inverted, in_process=False)
    job = OcrJob(program, crops, list(range(len(crops))), len(crops))
    out, _err = job.proc.communicate(timeout=120)
    job.tmp.cleanup()
    from vidsearch.models.ocr import parse_tsv

    pages = parse_tsv(out)
    by_program = [pages.get(i, []) for i in range(len(crops))]
    engine = TesseractReader(retry_inverted=retry_inverted).engine
    by_library = [tsv_words(rows) for rows in engine.read(crops, deadline=float("inf"))]
    return by_program, by_library


def _drawn_frames() -> list[np.ndarray]:
    import cv2

    frames = []
    for i, (text, scale) in enumerate([("EXIT 12", 1.2), ("Gate B7 closed", 0.8), ("camera 3  2026-12-07", 0.6),
                                       ("OPEN", 2.0), ("no entry", 1.0)]):
        img = np.full((224, 398, 3), (30 + 40 * i, 90, 60), np.uint8)
        cv2.putText(img, text, (12, 120), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2)
        frames.append(img)
    return frames


@pytest.mark.parametrize("retry_inverted", [True, False])
def test_library_reads_the_same_words_as_the_program(retry_inverted):
    crops = _crops_of(_drawn_frames())
    assert len(crops) >= 5
    by_program, by_library = _words_both_ways(crops, retry_inverted)
    assert by_library == by_program
    assert sum(len(w) for w in by_library) >= 8  # words were read, not two empty lists


def test_library_reads_the_same_words_on_real_clips(shared_videos):
    from tests.models.test_ocr import frames_of

    frames = []
    for name in ("chaplin.mp4", "demo.mp4", "testvideo.mp4", "nasa_13013.mp4"):
        frames += [f.image for f in frames_of(shared_videos / name, fps=0.5)][:20]
    crops = _crops_of(frames)
    assert len(crops) >= 30
    by_program, by_library = _words_both_ways(crops, retry_inverted=False)
    assert by_library == by_program
    assert sum(len(w) for w in by_library) >= 20


def test_one_engine_per_process_and_configuration():
    a = tesslib.engine("eng", 6)
    assert tesslib.engine("eng", 6) is a
    b = tesslib.engine("eng", 6, tessedit_do_invert="0")
    assert b is not a and b.variables == {"tessedit_do_invert": "0"}
    assert tesslib.library() is a.lib and a.version.startswith(("4.", "5."))


def test_a_read_runs_on_its_own_thread_and_leaves_the_others_openmp_as_it_was():
    """Tesseract asks OpenMP for 4 threads per LSTM step. In a process where torch brought its
    libgomp first (the ingest's), nothing limits that unless the reading thread does: no OpenMP
    team may start during a read, and the main thread's settings stay (torch uses them)."""
    import subprocess
    import sys

    code = """
import ctypes, os, threading
try:
    import torch  # noqa: F401  (its libgomp loads first, as in the ingest)
except ImportError:
    pass
import numpy as np
from vidsearch.models import tesslib
from tests.models.test_tesslib import _crops_of, _drawn_frames
crops = _crops_of(_drawn_frames()) * 4
engine = tesslib.engine("eng", 6)
gomp = tesslib._gomp
before = (gomp.omp_get_dynamic(), gomp.omp_get_max_threads()) if gomp else None
tasks = len(os.listdir("/proc/self/task"))
seen = []
def watch():
    while not done.is_set():
        seen.append(len(os.listdir("/proc/self/task")))
done = threading.Event()
w = threading.Thread(target=watch); w.start()
t = threading.Thread(target=lambda: engine.read(crops, float("inf"))); t.start(); t.join()
done.set(); w.join()
after = (gomp.omp_get_dynamic(), gomp.omp_get_max_threads()) if gomp else None
print(gomp is not None, max(seen) - tasks, before == after)
"""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=repo)
    found, extra_threads, unchanged = out.stdout.split()
    assert found == "True", out.stderr  # Debian's libtesseract is built with OpenMP
    assert extra_threads == "2", out  # the reader and the watcher: no OpenMP team
    assert unchanged == "True"


def test_a_language_that_is_not_installed_is_a_clear_error():
    with pytest.raises(OSError, match="xx_nolang"):
        tesslib.engine("xx_nolang", 6)


def test_a_read_past_its_deadline_gives_nothing():
    import time

    crops = _crops_of(_drawn_frames()) * 10
    engine = tesslib.engine("eng", 6)
    assert engine.read(crops, deadline=time.monotonic() + 0.002) is None
    assert engine.read(crops[:1], deadline=time.monotonic() + 30) is not None  # and reads afterwards
