"""EdgeStore specifics: persistence across close/reopen and crashes, one opener at a time."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vidsearch.config import Settings
from vidsearch.index.edge import EdgeStore
from vidsearch.index.lock import OwnerLock, StoreLocked
from vidsearch.index.store import open_store
from vidsearch.records import Keyframe, Segment

REPO = Path(__file__).resolve().parents[2]
DIMS = dict(copy_dim=16, semantic_dim=12)


def unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def keyframes(seed, n=20):
    rng = np.random.default_rng(seed)
    c, s = unit(rng, n, 16), unit(rng, n, 12)
    return [Keyframe(timestamp=i * 1.0, segment_index=i // 5, copy=c[i], semantic=s[i]) for i in range(n)]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def test_reopen_keeps_everything(tmp_path):
    kfs = keyframes(1)
    seg = Segment("a", 0, 0.0, 5.0, [0.0, 1.0], "/t/a0.jpg")
    with EdgeStore(tmp_path / "q", **DIMS) as st:
        st.upsert_frames("a", kfs)
        st.upsert_frames("b", keyframes(2, n=7))
        st.upsert_segments("a", [seg], {"copy": kfs[0].copy[None, :]})
        st.delete_video("b")
        before_hits = st.search_frames("copy", kfs[7].copy, 5)
        before_frames = st.frames_of("a")
    with EdgeStore(tmp_path / "q", **DIMS) as st:
        assert st.count_frames() == 20 and st.count_frames("b") == 0 and st.count_segments() == 1
        assert st.search_frames("copy", kfs[7].copy, 5) == before_hits
        after = st.frames_of("a")
        assert [(t, s) for t, s, _ in after] == [(t, s) for t, s, _ in before_frames]
        np.testing.assert_array_equal(np.stack([v for *_, v in after]), np.stack([v for *_, v in before_frames]))
        assert st.search_segments("copy", kfs[0].copy, 1)[0][0] == seg
        # the payload indexes came back with the shards: filtered search still works
        assert [h.timestamp for h in st.search_frames("copy", kfs[7].copy, 5, video_id="a", start=6, end=8)][0] == 7.0
        st.upsert_frames("a", kfs)  # still idempotent after reopening
        assert st.count_frames() == 20


CRASH = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from vidsearch.index.edge import EdgeStore
    from vidsearch.records import Keyframe
    interval = None if sys.argv[2] == "none" else float(sys.argv[2])
    st = EdgeStore(sys.argv[1], copy_dim=16, semantic_dim=12, flush_interval=interval)
    rng = np.random.default_rng(0)
    v = rng.standard_normal((50, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for k in range(0, 50, 10):  # chunks, as the ingest runner writes them
        st.upsert_frames("crash", [Keyframe(float(i), 0, copy=v[i]) for i in range(k, k + 10)])
    st.delete_video("other")
    os._exit(0)  # no close(), no flush(): as if killed
    """
)


@pytest.mark.parametrize("interval", ["none", "0"])
def test_writes_survive_a_process_that_dies_without_closing(tmp_path, interval):
    # "none": nothing flushed the segments, the write-ahead log alone brings the points back
    cmd = [sys.executable, "-c", CRASH, str(tmp_path / "q"), interval]
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    with EdgeStore(tmp_path / "q", **DIMS) as st:
        assert st.count_frames("crash") == 50
        assert len(st.frames_of("crash")) == 50


def test_second_opener_in_this_process_gets_store_locked(tmp_path):
    first = EdgeStore(tmp_path / "q", **DIMS)
    try:
        with pytest.raises(StoreLocked) as info:
            EdgeStore(tmp_path / "q", **DIMS)
        assert str(tmp_path / "q") in str(info.value)
        assert "in use" in str(info.value)
        assert first.count_frames() == 0  # the first one is unharmed
    finally:
        first.close()
    EdgeStore(tmp_path / "q", **DIMS).close()  # free again


OPEN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vidsearch.config import Settings
    from vidsearch.index.lock import StoreLocked
    from vidsearch.index.store import open_store
    try:
        open_store(Settings(data_dir=Path(sys.argv[1])), copy_dim=16, semantic_dim=12)
    except StoreLocked as err:
        print(f"LOCKED {err.pid} {err}")
        sys.exit(3)
    print("OPENED")
    """
)


def test_second_opener_in_another_process_gets_store_locked(tmp_path):
    settings = Settings(data_dir=tmp_path)
    with OwnerLock(settings.lock_path):  # what the service does before opening
        st = open_store(settings, **DIMS)
        try:
            res = subprocess.run([sys.executable, "-c", OPEN, str(tmp_path)], env=_env(), capture_output=True, text=True, timeout=60)
            assert res.returncode == 3, res.stdout + res.stderr
            assert res.stdout.startswith(f"LOCKED {os.getpid()} "), res.stdout  # the holder's pid, from the lock file
            assert str(tmp_path) in res.stdout
        finally:
            st.close()
    res = subprocess.run([sys.executable, "-c", OPEN, str(tmp_path)], env=_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "OPENED" in res.stdout, res.stdout + res.stderr


def test_open_store_defaults_to_edge_in_the_data_folder(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    st = open_store(settings)
    try:
        assert isinstance(st, EdgeStore)
        assert st.path == settings.qdrant_path
        assert st.dims == {"copy": 512, "semantic": 1280, "temporal": 512, "concept": 384}
        assert st.datatype == "float16"
        rng = np.random.default_rng(3)
        st.upsert_frames("v", [Keyframe(0.0, 0, copy=unit(rng, 1, 512)[0], semantic=unit(rng, 1, 1280)[0])])
    finally:
        st.close()
    assert (settings.qdrant_path / "frames").is_dir() and (settings.qdrant_path / "segments").is_dir()
    with open_store(settings) as st:  # loaded, not created, the second time
        assert st.count_frames("v") == 1


def test_other_dimensions_are_refused_on_reopen(tmp_path):
    EdgeStore(tmp_path / "q", **DIMS).close()
    with pytest.raises(ValueError, match="another model"):
        EdgeStore(tmp_path / "q", copy_dim=32, semantic_dim=12)
    EdgeStore(tmp_path / "q", **DIMS).close()  # the failed attempt left nothing open


def test_float32_storage_option(tmp_path):
    kfs = keyframes(4, n=5)
    with EdgeStore(tmp_path / "q", datatype="float32", **DIMS) as st:
        st.upsert_frames("a", kfs)
        np.testing.assert_allclose(st.frames_of("a")[2][2], kfs[2].copy, atol=1e-6)
        assert st.search_frames("copy", kfs[2].copy, 1)[0].score == pytest.approx(1.0, abs=1e-5)
    with EdgeStore(tmp_path / "q", **DIMS) as st:  # an existing store keeps its datatype
        assert st.datatype == "float32"
        np.testing.assert_allclose(st.frames_of("a")[2][2], kfs[2].copy, atol=1e-6)
    with pytest.raises(ValueError):
        EdgeStore(tmp_path / "r", datatype="int4", **DIMS)


def test_optimised_int8_scan_returns_the_exact_hits_and_scores(tmp_path):
    """Past OPTIMIZE_EVERY points a flush optimises: the copy vectors get their int8 copies (no
    graph), searches scan those and rescore, and the answers stay those of an exact scan."""
    from vidsearch.index.edge import OPTIMIZE_EVERY

    rng = np.random.default_rng(7)
    n, d = OPTIMIZE_EVERY + 1500, 256  # above the optimiser's 1000 kB (float16: 512 bytes a vector)
    vecs = unit(rng, n, d)
    kfs = [Keyframe(timestamp=float(i), segment_index=i // 10, copy=vecs[i]) for i in range(n)]
    exact = vecs.astype(np.float16).astype(np.float32)  # what the store keeps
    exact /= np.linalg.norm(exact, axis=1, keepdims=True)
    queries = [vecs[i] + 0.6 * unit(rng, 1, d)[0] for i in (3, 1000, n - 1)] + list(unit(rng, 3, d))
    with EdgeStore(tmp_path / "q", copy_dim=d, semantic_dim=12) as st:
        st.upsert_frames("v", kfs[:1000])
        st.flush()  # below OPTIMIZE_EVERY: nothing optimised yet
        assert st._shard("frames").info().indexed_vectors_count == 0
        st.upsert_frames("v", kfs[1000:])
        st.flush()
        assert st._shard("frames").info().indexed_vectors_count >= OPTIMIZE_EVERY  # the int8 copies exist
        for rounds in (0, 1):
            for q in queries:
                q = q / np.linalg.norm(q)
                cos = exact @ q
                floor = np.sort(cos)[-50]  # the 50th best exact score
                hits = st.search_frames("copy", q, 50)
                got = [int(h.timestamp) for h in hits]
                # the exact cosines, and every frame clearly above the 50th (not a float16 near-tie) found
                assert [h.score for h in hits] == pytest.approx([float(cos[i]) for i in got], abs=2e-3)
                assert set(np.flatnonzero(cos > floor + 2e-3).tolist()) <= set(got)
                assert got[0] == int(np.argmax(cos))
                assert [int(h.timestamp) for h in st.search_frames_many("copy", [{"vector": q, "limit": 50}])[0]] == got
            if rounds == 0:  # once more after re-writing some points (now in a new segment) and reopening
                st.upsert_frames("v", kfs[:200])
                assert st.count_frames() == n
    with EdgeStore(tmp_path / "q", copy_dim=d, semantic_dim=12) as st:
        assert st.count_frames() == n
        q = queries[1] / np.linalg.norm(queries[1])
        hits = st.search_frames("copy", q, 10)
        assert int(hits[0].timestamp) == 1000 and hits[0].score == pytest.approx(float(exact[1000] @ q), abs=2e-3)
