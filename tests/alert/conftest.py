"""A library with two synthetic videos made for the watchlist tests (not indexed until a test does)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import frame_at, make_scenes


@pytest.fixture
def footage(tmp_path) -> SimpleNamespace:
    """``a``: three shots (testsrc2, mandelbrot, smptebars, 3 s each); ``b``: two others (life,
    cellauto); ``still``: a frame of a's mandelbrot shot."""
    a = make_scenes(tmp_path / "a.mp4", ["testsrc2", "mandelbrot", "smptebars"], seconds=3)
    b = make_scenes(tmp_path / "b.mp4", ["life", "cellauto"], seconds=3)
    return SimpleNamespace(a=a, b=b, still=frame_at(a, 4.5, tmp_path / "still.png"), tmp=tmp_path)


def open_library(data_dir: Path, encoders, **env):
    from vidsearch.config import Settings
    from vidsearch.library import Library

    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(data_dir), "VIDSEARCH_OCR": "0", **env})
    return Library(settings, encoders=encoders)
