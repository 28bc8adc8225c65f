"""The segments' "temporal" vector in both backends, and stores made before it existed."""
import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from vidsearch.index.client import ClientStore
from vidsearch.index.edge import EdgeStore
from vidsearch.records import Segment


def _unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", ["edge", "client"])
def test_segments_store_and_search_the_temporal_vector(backend, tmp_path):
    st = EdgeStore(tmp_path / "q", copy_dim=16, semantic_dim=12) if backend == "edge" else \
        ClientStore.local(":memory:", copy_dim=16, semantic_dim=12)
    try:
        assert st.dims["temporal"] == 16  # in the copy descriptor's space
        rng = np.random.default_rng(0)
        segs = [Segment("v", i * 1000, i, i + 1.0) for i in range(3)]
        tv = _unit(rng, 3, 16)
        st.upsert_segments("v", segs, {"copy": _unit(rng, 3, 16), "temporal": tv})
        (seg, score), *_ = st.search_segments("temporal", tv[1], 3)
        assert seg.index == 1000 and score > 0.99
        with pytest.raises(ValueError, match="expected"):
            st.upsert_segments("v", segs, {"temporal": _unit(rng, 3, 8)})
    finally:
        st.close()


def test_a_store_made_before_the_temporal_vector_opens_and_explains(tmp_path):
    client = QdrantClient(location=":memory:")
    for name in ("frames", "segments"):
        client.create_collection(name, vectors_config={
            "copy": models.VectorParams(size=16, distance=models.Distance.COSINE),
            "semantic": models.VectorParams(size=12, distance=models.Distance.COSINE)})
    st = ClientStore(client, copy_dim=16, semantic_dim=12, location=":memory:")
    rng = np.random.default_rng(1)
    segs = [Segment("v", 0, 0.0, 1.0)]
    st.upsert_segments("v", segs, {"copy": _unit(rng, 1, 16)})  # still works without it
    assert "temporal" not in st.dims
    with pytest.raises(ValueError, match="re-index"):
        st.upsert_segments("v", segs, {"copy": _unit(rng, 1, 16), "temporal": _unit(rng, 1, 16)})
    st.close()
