from pathlib import Path

import pytest

from vidsearch.config import ConfigError, Settings


def test_defaults_need_no_configuration(tmp_path):
    s = Settings.from_env({"HOME": str(tmp_path)})
    assert s.qdrant_url is None and s.device == "auto" and s.sample_fps == 1.0 and s.decoder == "pyav"
    assert s.data_dir.name == "vidsearch"
    assert not (s.keyframe_sampling or s.skip_loop_filter or s.semantic_int8) and s.ocr_retry_inverted  # issue 17
    assert s.ocr_interval == 2.0  # OCR at most every 2 s of a video (docs/benchmarks.md)
    assert s.catalog_path.parent == s.data_dir and s.qdrant_path.parent == s.data_dir


def test_environment_overrides_and_derived_paths(tmp_path):
    s = Settings.from_env({
        "VIDSEARCH_DATA_DIR": str(tmp_path / "d"), "VIDSEARCH_QDRANT_URL": "http://q:6333",
        "VIDSEARCH_SAMPLE_FPS": "2.5", "VIDSEARCH_SEMANTIC": "off", "VIDSEARCH_DECODER": "Auto",
        "VIDSEARCH_COPY_MODEL": "full",
    })
    assert s.data_dir == Path(tmp_path / "d") and s.qdrant_url == "http://q:6333"
    assert (s.sample_fps, s.semantic, s.decoder, s.copy_model) == (2.5, False, "auto", "full")
    assert s.thumbnails_dir == tmp_path / "d" / "thumbnails"
    assert Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path)}).ocr_engine == "tesseract"
    fast = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_KEYFRAME_SAMPLING": "1",
                              "VIDSEARCH_SKIP_LOOP_FILTER": "yes", "VIDSEARCH_SEMANTIC_INT8": "1"})
    assert (fast.keyframe_sampling, fast.skip_loop_filter, fast.semantic_int8) == (True, True, True)
    assert Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_OCR_ENGINE": "PPOCR"}).ocr_engine == "ppocr"
    assert Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_OCR_INTERVAL": "0"}).ocr_interval == 0.0
    with pytest.raises(ConfigError, match="VIDSEARCH_OCR_INTERVAL"):
        Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_OCR_INTERVAL": "-1"})


@pytest.mark.parametrize("name,value", [
    ("DEVICE", "tpu"), ("SAMPLE_FPS", "abc"), ("SAMPLE_FPS", "0"), ("FRAME_SIZE", "8"),
    ("COPY_MODEL", "huge"), ("SEMANTIC", "maybe"), ("KEYFRAME_SAMPLING", "often"), ("DECODER", "opencv"), ("BATCH_SIZE", "0"), ("OCR_ENGINE", "easyocr"),
])
def test_bad_values_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"VIDSEARCH_{name}"):
        Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), f"VIDSEARCH_{name}": value})


def test_image_refine_is_on_unless_switched_off(tmp_path):
    base = {"VIDSEARCH_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).image_refine is True
    assert Settings.from_env({**base, "VIDSEARCH_IMAGE_REFINE": "0"}).image_refine is False
    assert Settings.from_env({**base, "VIDSEARCH_IMAGE_REFINE": "off"}).image_refine is False
    with pytest.raises(ConfigError, match="VIDSEARCH_IMAGE_REFINE"):
        Settings.from_env({**base, "VIDSEARCH_IMAGE_REFINE": "sometimes"})


def test_timezone_is_a_zone_name():
    from vidsearch.config import ConfigError, Settings

    assert Settings.from_env({"VIDSEARCH_TIMEZONE": "Europe/Paris"}).timezone == "Europe/Paris"
    assert Settings.from_env({}).timezone is None
    import pytest

    with pytest.raises(ConfigError, match="VIDSEARCH_TIMEZONE"):
        Settings.from_env({"VIDSEARCH_TIMEZONE": "Mars/Olympus"})


def test_export_and_playable_copy_settings(tmp_path):
    s = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path)})
    assert (s.max_export_s, s.playable_budget_mb) == (300.0, 4096.0)
    assert s.playable_dir == tmp_path / "playable" and s.exports_dir == tmp_path / "exports"
    s = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), "VIDSEARCH_MAX_EXPORT_S": "60",
                           "VIDSEARCH_PLAYABLE_BUDGET_MB": "0"})
    assert (s.max_export_s, s.playable_budget_mb) == (60.0, 0.0)
    for name, value in (("MAX_EXPORT_S", "0"), ("MAX_EXPORT_S", "x"), ("PLAYABLE_BUDGET_MB", "-1")):
        with pytest.raises(ConfigError, match=f"VIDSEARCH_{name}"):
            Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), f"VIDSEARCH_{name}": value})
