"""The encoder set: what warm_up loads, per the settings."""
from __future__ import annotations

from vidsearch.config import Settings
from vidsearch.models.encoders import Encoders


def test_warm_up_loads_what_the_settings_use_and_nothing_else(tmp_path):
    enc = Encoders(Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_SEMANTIC": "0",
                                      "VIDSEARCH_CONCEPTS": "0", "VIDSEARCH_OCR": "0"}))
    assert enc._copy is None
    enc.warm_up()
    assert enc._copy is not None  # loaded and run once
    assert enc._semantic is None and enc._text is None and enc._ocr is None


def test_warm_up_loads_the_text_encoder_when_concepts_are_on(tmp_path):
    enc = Encoders(Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_SEMANTIC": "0",
                                      "VIDSEARCH_OCR": "0"}))
    enc.warm_up()
    assert enc._text is not None  # text queries need it at once
    assert enc.text.encode(["a dog"]).shape[0] == 1
