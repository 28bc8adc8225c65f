"""The library facade end to end: image search, delete, the owner lock, and the server code path."""
import multiprocessing

import pytest
from PIL import Image

from tests.conftest import frame_at, make_scenes
from vidsearch.config import Settings
from vidsearch.index.lock import StoreLocked
from vidsearch.library import Library
from vidsearch.media.image import load_image


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, encoders):
    tmp = tmp_path_factory.mktemp("lib")
    a = make_scenes(tmp / "a.mp4", ["testsrc2", "mandelbrot"], seconds=5)
    b = make_scenes(tmp / "b.mp4", ["smptebars", "rgbtestsrc", "cellauto"], seconds=3)
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp / "data")})
    with Library(settings, encoders=encoders) as lib:
        results = {r.path.rsplit("/", 1)[1]: r for r in lib.ingest([a, b])}
        assert all(r.status == "indexed" for r in results.values()), results
        yield lib, results, tmp


@pytest.mark.parametrize("video,t", [("a.mp4", 7.0), ("b.mp4", 1.0), ("b.mp4", 7.0)])
def test_a_frame_finds_its_video_and_time(indexed, video, t):
    lib, results, tmp = indexed
    still = frame_at(tmp / video, t, tmp / f"q_{video}_{t}.png")
    # degrade it: JPEG q30 at half size
    pil = Image.open(still)
    pil = pil.resize((pil.width // 2, pil.height // 2))
    pil.save(tmp / "q.jpg", quality=30)
    moments = lib.search_image(load_image(tmp / "q.jpg"), limit=5)
    best = moments[0]
    assert best.video_id == results[video].video_id
    assert best.path == results[video].path
    assert abs(best.timestamp - t) <= 1.0
    assert best.start <= best.timestamp <= best.end
    assert best.thumbnail and best.thumbnail.endswith(".jpg")
    d = best.to_dict()
    assert set(d) == {"video_id", "path", "start", "end", "timestamp", "score", "thumbnail", "confidence", "why"}
    assert moments == sorted(moments, key=lambda m: -m.score)


def test_filters_by_video_and_time(indexed):
    lib, results, tmp = indexed
    still = load_image(frame_at(tmp / "a.mp4", 7.0, tmp / "qa.png"))
    # b does not hold a's frame: only weak results, and only of b
    assert not lib.search_image(still, video_id=results["b.mp4"].video_id)
    only_b = lib.search_image(still, video_id=results["b.mp4"].video_id, include_weak=True)
    assert only_b and {m.video_id for m in only_b} == {results["b.mp4"].video_id}
    early = lib.search_image(still, video_id=results["a.mp4"].video_id, before=4.0, include_weak=True)
    assert early and all(m.timestamp <= 4.0 for m in early)


def _open_in_child(data_dir, q):
    try:
        Library(Settings.from_env({"VIDSEARCH_DATA_DIR": data_dir}))
        q.put("opened")
    except StoreLocked as exc:
        q.put(str(exc))


def test_a_second_process_gets_a_clear_error(indexed):
    lib, _, _ = indexed
    q = multiprocessing.get_context("spawn").Queue()
    p = multiprocessing.get_context("spawn").Process(target=_open_in_child, args=(str(lib.settings.data_dir), q))
    p.start()
    p.join(60)
    msg = q.get(timeout=5)
    assert "in use" in msg and str(lib.settings.data_dir) in msg


def test_delete_removes_vectors_thumbnails_and_record(settings, encoders, tmp_path):
    video = make_scenes(tmp_path / "d.mp4", ["testsrc2", "smptebars"], seconds=2)
    with Library(settings, encoders=encoders) as lib:
        (r,) = list(lib.ingest([video]))
        assert lib.store.count_frames(r.video_id) > 0
        assert lib.delete(r.video_id)
        assert lib.store.count_frames(r.video_id) == 0 and lib.store.count_segments(r.video_id) == 0
        assert not (settings.thumbnails_dir / r.video_id).exists()
        assert lib.video(r.video_id) is None
        assert not lib.delete(r.video_id)


def test_server_code_path_with_qdrant_client_local_mode(tmp_path, encoders):
    """VIDSEARCH_QDRANT_URL switches to qdrant-client; its local mode mirrors the server API."""
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"),
                                  "VIDSEARCH_QDRANT_URL": f"path:{tmp_path / 'qdrant-local'}"})
    video = make_scenes(tmp_path / "s.mp4", ["testsrc2", "smptebars"], seconds=3)
    with Library(settings, encoders=encoders) as lib:
        (r,) = list(lib.ingest([video]))
        assert r.status == "indexed", r.error
        still = load_image(frame_at(video, 4.0, tmp_path / "s.png"))
        (best, *_) = lib.search_image(still)
        assert best.video_id == r.video_id and abs(best.timestamp - 4.0) <= 1.0


NIGHT = 1_714_600_800.0  # 2024-05-01T22:00:00Z
DAY = 1_714_636_800.0  # 2024-05-02T08:00:00Z


def _recordings(tmp, encoders, videos):
    """Each video indexed twice over: as recorded at night by camera gate and by day by camera yard
    (the same footage, so that only the filters tell them apart)."""
    import shutil

    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp / "data"), "VIDSEARCH_TIMEZONE": "UTC",
                                  "VIDSEARCH_SEMANTIC": "0"})
    lib = Library(settings, encoders=encoders)
    ids = {}
    for path in videos:
        for cam, start in (("gate", NIGHT), ("yard", DAY)):
            copy = tmp / f"{cam}_{path.name}"
            shutil.copy(path, copy)
            with open(copy, "ab") as f:  # another file (another content id), the same pictures
                f.write(cam.encode())
            res = lib.runner.ingest_file(copy, camera=cam, wall_start=start)
            assert res.status == "indexed", res.error
            ids[(cam, path.name)] = res.video_id
    return lib, ids


def _filtered_search(lib, ids, still, name):
    everything = lib.search_image(still, limit=10)
    assert {m.video_id for m in everything} >= {ids[("gate", name)], ids[("yard", name)]}
    night = lib.search_image(still, limit=10, where=lib.where(time_of_day=(21 * 3600.0, 6 * 3600.0)))
    assert night and {m.video_id for m in night} <= {v for (cam, _), v in ids.items() if cam == "gate"}
    assert night[0].video_id == ids[("gate", name)]
    day = lib.search_image(still, limit=10, where=lib.where(camera="yard"))
    assert day and {m.video_id for m in day} <= {v for (cam, _), v in ids.items() if cam == "yard"}
    # the wall-clock bound and the time of day together: 08:00 on the second day is not at night
    assert lib.search_image(still, where=lib.where(time_of_day=(7 * 3600.0, 9 * 3600.0), wall_before=DAY - 1)) == []
    like = lib.search_like(ids[("gate", name)], t=1.0, where=lib.where(camera="yard"))
    assert like and like[0].video_id == ids[("yard", name)]
    # a stored span as a clip query: the candidates and the moments pass the same filters
    span = lib.search_like(ids[("yard", name)], start=0.0, end=2.5, include_weak=True)
    assert {m.video_id for m in span} >= {ids[("gate", name)], ids[("yard", name)]}
    night = lib.search_like(ids[("yard", name)], start=0.0, end=2.5, include_weak=True,
                            where=lib.where(time_of_day=(21 * 3600.0, 6 * 3600.0)))
    assert night and {m.video_id for m in night} <= {v for (cam, _), v in ids.items() if cam == "gate"}


def test_camera_and_time_of_day_filter_in_the_store(tmp_path, encoders):
    a = make_scenes(tmp_path / "a.mp4", ["testsrc2", "mandelbrot"], seconds=3)
    lib, ids = _recordings(tmp_path, encoders, [a])
    try:
        still = load_image(frame_at(a, 1.0, tmp_path / "q.png"), min_short_side=224)
        _filtered_search(lib, ids, still, "a.mp4")
    finally:
        lib.close()


def test_time_of_day_on_real_recordings(tmp_path, encoders, shared_videos):
    clip = shared_videos / "cockatoo.mp4"
    lib, ids = _recordings(tmp_path, encoders, [clip])
    try:
        still = load_image(frame_at(clip, 1.0, tmp_path / "q.png"), min_short_side=224)
        _filtered_search(lib, ids, still, "cockatoo.mp4")
    finally:
        lib.close()
