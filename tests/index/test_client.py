"""ClientStore specifics: how open_store reads VIDSEARCH_QDRANT_URL; local mode on disk."""
import numpy as np
import pytest

from vidsearch.config import ConfigError, Settings
from vidsearch.index.client import ClientStore
from vidsearch.index.lock import StoreLocked
from vidsearch.index.store import open_store
from vidsearch.records import Keyframe

DIMS = dict(copy_dim=16, semantic_dim=12)


def kf(seed, t=0.0):
    v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
    return Keyframe(t, 0, copy=v / np.linalg.norm(v))


def test_memory_url(tmp_path):
    st = open_store(Settings(data_dir=tmp_path, qdrant_url=":memory:"), **DIMS)
    try:
        assert isinstance(st, ClientStore)
        st.upsert_frames("a", [kf(1)])
        assert st.count_frames() == 1
    finally:
        st.close()


def test_path_url_persists_and_has_one_owner(tmp_path):
    settings = Settings(data_dir=tmp_path, qdrant_url=f"path:{tmp_path / 'local'}")
    st = open_store(settings, **DIMS)
    try:
        st.upsert_frames("a", [kf(1, 0.0), kf(2, 1.0)])
        with pytest.raises(StoreLocked):
            open_store(settings, **DIMS)
    finally:
        st.close()
    with open_store(settings, **DIMS) as st:
        assert st.count_frames("a") == 2
        assert [t for t, _, _ in st.frames_of("a")] == [0.0, 1.0]
    with pytest.raises(ValueError, match="another model"):
        open_store(settings, copy_dim=32, semantic_dim=12)


def test_server_url_and_api_key_are_passed(tmp_path, monkeypatch):
    seen = {}

    def fake_server(cls, url, api_key=None, **kw):
        seen.update(url=url, api_key=api_key, **kw)
        return "server-store"

    monkeypatch.setattr(ClientStore, "server", classmethod(fake_server))
    settings = Settings(data_dir=tmp_path, qdrant_url="https://q.example:6333", qdrant_api_key="k3y")
    assert open_store(settings) == "server-store"
    assert seen == {"url": "https://q.example:6333", "api_key": "k3y"}


@pytest.mark.parametrize("url", ["q.example:6333", "ftp://q", "path:"])
def test_bad_urls_are_config_errors(tmp_path, url):
    with pytest.raises(ConfigError, match="VIDSEARCH_QDRANT_URL"):
        open_store(Settings(data_dir=tmp_path, qdrant_url=url))
