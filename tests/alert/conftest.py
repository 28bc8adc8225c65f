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


def mark_list_and_remove(main, capsys, name: str, alert_id: int) -> None:
    """The CLI's mark, list and rm of a watchlist with one alert, as a user runs them after an ingest."""
    import json

    assert main(["watchlist", "mark", name, str(alert_id), "right"]) == 0
    capsys.readouterr()
    assert main(["watchlist", "list", "--json"]) == 0
    [w] = json.loads(capsys.readouterr().out)["watchlists"]
    assert w["marks"] == {"right": 1, "wrong": 0, "precision": 1.0} and w["alerts"] == 1
    assert main(["watchlist", "add", name, "--text", "x"]) == 2  # the name is taken
    assert "name" in capsys.readouterr().err
    assert main(["watchlist", "rm", name]) == 0
    assert main(["watchlist", "rm", name]) == 1
