"""End-to-end ingestion of videos the test makes: real decoding, real models, real embedded store."""
import numpy as np
import pytest

from tests.conftest import make_scenes
from vidsearch.library import Library


@pytest.fixture
def lib(settings, encoders):
    with Library(settings, encoders=encoders) as lib:
        yield lib


def test_three_shots_become_three_segments_with_thumbnails(lib, tmp_path):
    video = make_scenes(tmp_path / "three.mp4", ["testsrc2", "smptebars", "mandelbrot"], seconds=4)
    (r,) = list(lib.ingest([video]))
    assert r.status == "indexed", r.error
    assert r.samples == 12 and r.segments == 3
    assert set(r.times) >= {"probe", "decode", "segment", "embed", "write", "total"}
    assert r.times["total"] >= sum(v for k, v in r.times.items() if k != "total") - 1e-3  # first probe to last write
    rec = lib.video(r.video_id)
    assert rec.status == "indexed" and rec.path == str(video) and abs(rec.duration - 12) < 0.1
    assert lib.store.count_frames(r.video_id) == r.keyframes
    assert lib.store.count_segments(r.video_id) == 3
    thumbs = sorted((lib.settings.thumbnails_dir / r.video_id).glob("*.jpg"))
    assert [t.name for t in thumbs] == ["00000.jpg", "04000.jpg", "08000.jpg"]  # named by start ms
    segs = [s for s, _ in lib.store.search_segments("copy", np.ones(512, np.float32) / np.sqrt(512), 10)]
    starts = sorted(round(s.start) for s in segs)
    assert starts == [0, 4, 8]


def test_reingest_skips_and_forced_reingest_adds_nothing_twice(lib, tmp_path):
    video = make_scenes(tmp_path / "two.mp4", ["testsrc2", "smptebars"], seconds=3)
    (first,) = list(lib.ingest([video]))
    frames = lib.store.count_frames()
    (again,) = list(lib.ingest([video]))
    assert again.status == "skipped" and again.video_id == first.video_id
    copy = tmp_path / "renamed.mkv.mp4"
    copy.write_bytes(video.read_bytes())
    (same,) = list(lib.ingest([copy]))
    assert same.status == "skipped" and same.video_id == first.video_id
    (forced,) = list(lib.ingest([video], force=True))
    assert forced.status == "indexed"
    assert lib.store.count_frames() == frames
    assert len(lib.videos()) == 1


def test_static_footage_embeds_a_small_fraction_of_its_samples(lib, video_factory):
    # 60 s of a still scene with a little sensor noise, then a moving object for 10 s
    still = video_factory("still.mp4", source="color=c=0x406080:size=320x240:rate=10", duration=60,
                          vf="noise=alls=6:allf=t")
    (r,) = list(lib.ingest([still]))
    assert r.status == "indexed", r.error
    assert r.samples == 60
    assert r.keyframes <= 4, r.keyframes  # one per segment (max 30 s), not one per second
    busy = video_factory("busy.mp4", source="testsrc2", duration=60, size="320x240", fps=10)
    (b,) = list(lib.ingest([busy]))
    assert b.keyframes >= 50


def test_bad_files_fail_clearly_and_the_others_still_index(lib, tmp_path, video_factory):
    good_before = video_factory("before.mp4", source="testsrc2", duration=3)
    (pre,) = list(lib.ingest([good_before]))
    frames_before = lib.store.count_frames(pre.video_id)

    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a_empty.mp4").write_bytes(b"")
    (folder / "b_text.mp4").write_text("this is not a video\n" * 50)
    (folder / "c_truncated.mp4").write_bytes(good_before.read_bytes()[:3000])
    good = video_factory("d_good.mp4", source="smptebars", duration=3)
    good.rename(folder / "d_good.mp4")

    results = {r.path.rsplit("/", 1)[1]: r for r in lib.ingest([folder, tmp_path / "missing.mp4"])}
    assert results["d_good.mp4"].status == "indexed"
    for name in ("a_empty.mp4", "b_text.mp4", "c_truncated.mp4", "missing.mp4"):
        r = results[name]
        assert r.status == "failed", name
        assert str(folder / name) in r.error or str(tmp_path / name) in r.error
    assert "empty" in results["a_empty.mp4"].error
    failed = {v.path.rsplit("/", 1)[1]: v for v in lib.videos() if v.status == "failed"}
    assert set(failed) == {"a_empty.mp4", "b_text.mp4", "c_truncated.mp4"}
    assert all(v.error for v in failed.values())
    # nothing already indexed was harmed
    assert lib.store.count_frames(pre.video_id) == frames_before
    assert lib.video(pre.video_id).status == "indexed"
