"""The web server's settings, read in vidsearch/config.py like every other setting."""
from __future__ import annotations

import os

import pytest

from vidsearch.config import ConfigError, Settings


def test_web_defaults(tmp_path):
    s = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path)})
    assert s.api_key is None and s.allowed_roots == ()  # no key; no server-side path ingestion
    assert s.max_upload_mb == 2048 and s.max_query_mb == 100 and s.min_free_mb == 1024
    assert s.uploads_dir == tmp_path / "uploads" and s.server_info_path == tmp_path / "server.json"


def test_web_settings_from_the_environment(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    env = {"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_API_KEY": "k3y",
           "VIDSEARCH_ALLOWED_ROOTS": os.pathsep.join([str(tmp_path / "alias"), "", str(tmp_path / "b")]),
           "VIDSEARCH_MAX_UPLOAD_MB": "500", "VIDSEARCH_MAX_QUERY_MB": "8.5", "VIDSEARCH_UPLOAD_DIR": str(tmp_path / "up"),
           "VIDSEARCH_MIN_FREE_MB": "0"}
    s = Settings.from_env(env)
    assert s.api_key == "k3y" and "k3y" not in repr(s)  # never logged
    assert s.allowed_roots == ((tmp_path / "real").resolve(), (tmp_path / "b").resolve())  # links resolved
    assert (s.max_upload_mb, s.max_query_mb, s.min_free_mb) == (500, 8.5, 0)
    assert s.uploads_dir == (tmp_path / "up").resolve()


@pytest.mark.parametrize("name, value", [("MAX_UPLOAD_MB", "0"), ("MAX_QUERY_MB", "-1"), ("MAX_UPLOAD_MB", "lots"),
                                         ("MIN_FREE_MB", "-5")])
def test_bad_web_values_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"VIDSEARCH_{name}"):
        Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path), f"VIDSEARCH_{name}": value})
