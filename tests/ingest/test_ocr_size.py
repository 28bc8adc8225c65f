"""Ingest reads on-screen text from a larger copy of each sampled frame (VIDSEARCH_OCR_SIZE): a
caption too small to read on the 224-px frames is found by text search; with the setting at 0
(the frames themselves, as before) it is not."""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import make_video
from vidsearch.config import ConfigError, Settings
from vidsearch.library import Library


def test_ocr_size_setting(tmp_path):
    base = {"VIDSEARCH_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).ocr_size == 0  # off unless asked (its cost, docs/benchmarks.md)
    assert Settings.from_env({**base, "VIDSEARCH_OCR_SIZE": "448"}).ocr_size == 448
    assert Settings.from_env({**base, "VIDSEARCH_OCR_SIZE": "720"}).ocr_size == 720
    for bad in ("-1", "16", "big"):
        with pytest.raises(ConfigError, match="VIDSEARCH_OCR_SIZE"):
            Settings.from_env({**base, "VIDSEARCH_OCR_SIZE": bad})


@pytest.fixture(scope="module")
def caption_video(tmp_path_factory):
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract-ocr is not installed (scripts/install installs it)")
    pytest.importorskip("sentence_transformers")
    folder = tmp_path_factory.mktemp("ocr-size")
    try:
        # 18-px letters in a 720p source: about 6 px in the 224-px frames
        return make_video(folder / "caption.mp4", duration=3, source="color=c=navy:size=1280x720:rate=25:duration=3",
                          vf="drawtext=text='SEND SPIKE':fontcolor=white:fontsize=18:x=(w-text_w)/2:y=(h-text_h)/2")
    except Exception as exc:  # ffmpeg without drawtext or without a font
        pytest.skip(f"ffmpeg cannot draw text here: {exc}")


@pytest.mark.parametrize("size,found", [("448", True), ("0", False)])
def test_small_caption_is_found_only_with_the_larger_copy(caption_video, encoders, tmp_path, size, found):
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_OCR_SIZE": size})
    with Library(settings, encoders=encoders) as lib:
        (r,) = list(lib.ingest([caption_video]))
        assert r.status == "indexed", r.error
        moments = lib.search_text('"send spike"')  # quoted: must be on screen
        assert bool(moments) is found
        if found:
            assert moments[0].video_id == r.video_id
            assert any("spike" in w for w in moments[0].extra["why"])
