"""Indexed libraries shared by the clip-query and dedup tests (built once per test session)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.search import clipfixtures as cf


@pytest.fixture(scope="session")
def copy_encoders():
    """SSCD only: clip queries and dedup never use the semantic embedding."""
    from vidsearch.config import Settings
    from vidsearch.models.encoders import Encoders

    return Encoders(Settings(data_dir=Path("/nonexistent"), semantic=False))


def _library(data_dir: Path, encoders):
    from vidsearch.config import Settings
    from vidsearch.library import Library

    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(data_dir), "VIDSEARCH_SEMANTIC": "0"})
    return Library(settings, encoders=encoders)


@pytest.fixture(scope="session")
def synthetic_library(tmp_path_factory, copy_encoders):
    """Indexed: A (four still fractal views under a moving inset; 16 s), B (sierpinski, cellauto,
    colorspectrum; 12 s), R (testsrc, colorspectrum, then the same testsrc footage again: a copy
    inside one video; its still colour spectrum is also B's). Never indexed: C (a geq plasma,
    another gradient, rings)."""
    tmp = tmp_path_factory.mktemp("clips")
    a = cf.scenes(tmp / "a.mp4", cf.INSETS)
    b = cf.scenes(tmp / "b.mp4", [cf.SIERP, cf.CELL, cf.SPECTRUM])
    r = cf.scenes(tmp / "r.mp4", [cf.TESTSRC, cf.SPECTRUM, cf.TESTSRC])
    c = cf.scenes(tmp / "c.mp4", [cf.PLASMA, cf.GRAD2, cf.RINGS])
    lib = _library(tmp / "data", copy_encoders)
    ids = {}
    for res in lib.ingest([a, b, r]):
        assert res.status == "indexed", res
        ids[Path(res.path).name] = res.video_id
    yield SimpleNamespace(lib=lib, tmp=tmp, a=a, b=b, r=r, c=c, ids=ids)
    lib.close()


REAL_INDEXED = ["test.mp4", "part_0.mp4", "big_buck_bunny_0_30.webm", "example2.mp4", "cockatoo.mp4",
                "cockatoo_yuv420.mp4", "01_dog.mp4", "fire2.mp4", "S001C001P001R001A001_rgb.avi", "demo_skeleton.mp4"]


@pytest.fixture(scope="session")
def real_library(tmp_path_factory, shared_videos, copy_encoders):
    """Real clips with the known copies among them (NOTES.md), and the hard look-alikes (two dog
    clips; two NTU RGB+D clips of the same room and camera)."""
    lib = _library(tmp_path_factory.mktemp("real") / "data", copy_encoders)
    ids = {}
    for res in lib.ingest([shared_videos / n for n in REAL_INDEXED]):
        assert res.status == "indexed", res
        ids[Path(res.path).name] = res.video_id
    yield SimpleNamespace(lib=lib, ids=ids, names={v: k for k, v in ids.items()}, videos=shared_videos)
    lib.close()
