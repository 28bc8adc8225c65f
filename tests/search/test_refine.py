"""Query-time refinement of an image query's timestamp (VIDSEARCH_IMAGE_REFINE)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidsearch.records import FrameHit, Moment
from vidsearch.search.refine import CANDIDATES, MARGIN, _inside_run, _windows, candidates


def hit(v, t, score, until=None):
    return FrameHit(video_id=v, timestamp=t, segment_index=0, score=score, until=until)


def moment(v="a", start=0.0, end=10.0, t=5.0):
    return Moment(video_id=v, path="/x.mp4", start=start, end=end, timestamp=t, score=0.9)


def test_candidates_are_the_moments_best_frames_within_the_margin():
    hits = [hit("a", 5.0, 0.90), hit("a", 2.0, 0.90 - MARGIN / 2), hit("a", 8.0, 0.90 - 2 * MARGIN),
            hit("b", 5.0, 0.95), hit("a", 30.0, 0.93)]  # other video; same video outside the moment
    assert [h.timestamp for h in candidates(hits, moment())] == [5.0, 2.0]
    many = [hit("a", float(t), 0.9 - t * 1e-3) for t in range(10)]
    assert [h.timestamp for h in candidates(many, moment())] == [float(t) for t in range(CANDIDATES)]
    assert candidates([hit("b", 5.0, 0.9)], moment()) == []


def test_windows_cover_half_a_period_around_moving_frames_and_merge():
    # moving footage at 1 s: +-0.5 s (and one more step), neighbours merged into one decode
    assert _windows([hit("a", 5.0, 0.9), hit("a", 6.0, 0.8)], 1.0) == [(4.5, 6.625)]
    assert _windows([hit("a", 0.0, 0.9), hit("a", 9.0, 0.8)], 1.0) == [(0.0, 0.625), (8.5, 9.625)]
    # starts on the decode grid (0.25 s): the same frames whether decoded alone or in a longer pass
    assert _windows([hit("a", 5.04, 0.9)], 1.0) == [(4.5, pytest.approx(5.665))]
    # a static run's keyframe (it stood for 4..9 s): the period before it and the one after its last
    # sample (where its picture may have begun and ended), not inside the run
    assert _windows([hit("a", 4.0, 0.9, until=10.0)], 1.0) == [(3.0, 4.125), (9.0, 10.0)]
    assert _windows([hit("a", 4.0, 0.9, until=6.0)], 1.0) == [(3.0, 4.125), (5.0, 6.0)]


def test_the_sample_that_ends_a_still_run_is_not_inside_it():
    # a run kept from 5.0 s until the next sample at 6.04 s: the decode grid (0.25 s) calls that
    # sample's frame 6.0 s, which is the next sample's, not the run's
    run = hit("a", 5.0, 0.9, until=6.04)
    assert [_inside_run(t, [run], 1.0) for t in (5.0, 5.25, 5.75, 6.0, 6.25)] == [False, True, True, False, False]
    assert not _inside_run(5.5, [hit("a", 5.0, 0.9, until=5.9)], 1.0)  # not a static run (one period)


def test_a_frame_after_a_texture_taken_for_a_still_keeps_its_time(tmp_path, copy_encoders):
    """lavfi's cellauto (seed 1) is a 1-pixel texture that scrolls up a row a frame: the ingest's
    64-px thumbnail sees one still picture over the samples 5.0-6.04 s. The refinement used to leave
    the 6.04-s sample's own frame unmatched (on the grid it is 6.0 s, inside that run), and a
    scrolled frame of the periodic texture, 1.3 s earlier, won."""
    from tests.conftest import make_scenes

    video = make_scenes(tmp_path / "cam2.mp4", ["smptebars", "cellauto=seed=1"], seconds=4)
    plain, refined = _plain_and_refined(video, 6.0, tmp_path, copy_encoders)
    assert abs(plain.timestamp - 6.0) <= 0.05, plain
    assert abs(refined.timestamp - 6.0) <= 0.05, refined


def _still(video: Path, t: float, out: Path, ffmpeg: str) -> np.ndarray:
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(video), "-ss", f"{t:.3f}", "-frames:v", "1", str(out)],
                   check=True)
    return np.asarray(Image.open(out).convert("RGB"))


def _plain_and_refined(video: Path, t: float, tmp_path: Path, encoders) -> tuple[Moment, Moment]:
    """``video`` indexed alone; the first moment for its frame at ``t``, without and with the refinement."""
    from tests.conftest import _need_ffmpeg
    from vidsearch.config import Settings
    from vidsearch.library import Library

    image = _still(video, t, tmp_path / "q.png", _need_ffmpeg())
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_SEMANTIC": "0",
                                  "VIDSEARCH_OCR": "0", "VIDSEARCH_CONCEPTS": "0"})
    with Library(settings, encoders=encoders) as lib:
        (res,) = list(lib.ingest([video]))
        assert res.status == "indexed", res
        return lib.search_image(image, limit=3, refine=False)[0], lib.search_image(image, limit=3, refine=True)[0]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, copy_encoders):
    """testsrc2 (a frame counter and moving shapes: every frame differs), 8 s, indexed at 1 frame/s."""
    from tests.conftest import _need_ffmpeg, make_video
    from vidsearch.config import Settings
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("refine")
    video = make_video(tmp / "src.mp4", duration=8.0, size="640x360", fps=25, source="testsrc2")
    libs = {}
    for refine in ("0", "1"):
        env = {"VIDSEARCH_DATA_DIR": str(tmp / "data"), "VIDSEARCH_SEMANTIC": "0", "VIDSEARCH_OCR": "0",
               "VIDSEARCH_CONCEPTS": "0", "VIDSEARCH_IMAGE_REFINE": refine}
        libs[refine] = Settings.from_env(env)
    lib = Library(libs["0"], encoders=copy_encoders)
    (res,) = list(lib.ingest([video]))
    assert res.status == "indexed", res
    lib.close()
    yield video, libs, _need_ffmpeg(), tmp, copy_encoders


def _search(settings, encoders, image):
    from vidsearch.library import Library

    with Library(settings, encoders=encoders) as lib:
        return lib.search_image(image, limit=3)


@pytest.mark.parametrize("truth", [3.52, 5.6])
def test_refinement_finds_the_time_between_samples(indexed, truth):
    video, libs, ffmpeg, tmp, enc = indexed
    image = _still(video, truth, tmp / f"q{truth}.png", ffmpeg)
    plain = _search(libs["0"], enc, image)[0]
    refined = _search(libs["1"], enc, image)[0]
    assert abs(plain.timestamp - truth) >= 0.3  # stored frames: about one a second
    assert abs(refined.timestamp - truth) <= 0.13  # within half a decode step (0.25 s) of the truth
    assert refined.start <= refined.timestamp <= refined.end
    assert (refined.video_id, refined.score) == (plain.video_id, plain.score)


def test_a_file_changed_since_indexing_keeps_the_stored_answer(indexed):
    video, libs, ffmpeg, tmp, enc = indexed
    image = _still(video, 2.52, tmp / "q_changed.png", ffmpeg)
    plain = _search(libs["0"], enc, image)[0]
    st = os.stat(video)
    try:
        os.utime(video, (st.st_atime, st.st_mtime + 60))
        refined = _search(libs["1"], enc, image)[0]
    finally:
        os.utime(video, (st.st_atime, st.st_mtime))
    assert refined.timestamp == plain.timestamp


def test_nearby_windows_are_decoded_in_one_pass():
    from vidsearch.search.refine import _decode_spans

    assert _decode_spans([(0.0, 0.6), (4.5, 5.6), (30.0, 31.0)], 10.0) == [(0.0, 5.6), (30.0, 31.0)]
    assert _decode_spans([(0.0, 0.6), (4.5, 5.6)], 1.0) == [(0.0, 0.6), (4.5, 5.6)]


def test_rgba_and_grey_pictures_are_handled(indexed):
    video, libs, ffmpeg, tmp, enc = indexed
    image = _still(video, 3.52, tmp / "q_grey.png", ffmpeg)
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    assert abs(_search(libs["1"], enc, rgba)[0].timestamp - 3.52) <= 0.13
    # grey: testsrc2 is told apart by its colours, so only: no error, the same moment, a time near it
    grey = image[:, :, 0]
    plain, refined = _search(libs["0"], enc, grey)[0], _search(libs["1"], enc, grey)[0]
    assert (refined.video_id, refined.score) == (plain.video_id, plain.score)
    assert abs(refined.timestamp - plain.timestamp) <= 0.65  # its window: +- half a second and a step


def test_the_refinement_never_moves_the_instant_out_of_a_still_run(tmp_path, shared_videos, copy_encoders):
    """The issue's reproduction: the frames from about 8 to 11 s of testvideo.mp4 are one still
    picture; a cropped, halved, low-quality still of 9.0 s was refined to 7.84 s, a frame before it."""
    from tests.conftest import _need_ffmpeg
    from vidsearch.config import Settings
    from vidsearch.library import Library

    ffmpeg = _need_ffmpeg()
    q = tmp_path / "q.jpg"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-ss", "9.0", "-i", str(shared_videos / "testvideo.mp4"),
                    "-frames:v", "1", "-vf", "crop=iw*0.7:ih*0.7,scale=iw/2:-2", "-q:v", "25", str(q)], check=True)
    image = np.asarray(Image.open(q).convert("RGB"))
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_SEMANTIC": "0",
                                  "VIDSEARCH_OCR": "0", "VIDSEARCH_CONCEPTS": "0"})
    with Library(settings, encoders=copy_encoders) as lib:
        results = list(lib.ingest([shared_videos / n for n in ("testvideo.mp4", "bikes.mp4", "04_coffee.mp4")]))
        assert all(r.status == "indexed" for r in results), results
        plain = lib.search_image(image, limit=3, refine=False)[0]
        refined = lib.search_image(image, limit=3, refine=True)[0]
    assert Path(refined.path).name == "testvideo.mp4"
    assert 8.0 <= plain.timestamp < 11.5 and 8.0 <= refined.timestamp < 11.5, (plain, refined)
    assert refined.start <= refined.timestamp <= refined.end
    assert plain.end - plain.start <= 5.0, plain  # the still run, not the 24-s video (it was 0-24 s)


def test_a_search_near_a_refined_moment_matches_cached_frames(indexed, monkeypatch):
    """A variant of the same picture (another edit, the next page, a reload): no decode, the answer
    of a decode."""
    import vidsearch.media.decode as decode
    from vidsearch.search.refine import CACHE

    video, libs, ffmpeg, tmp, enc = indexed
    image = _still(video, 3.52, tmp / "q_cache.png", ffmpeg)
    variant = np.asarray(Image.fromarray(image).resize((320, 180)))
    CACHE.clear()
    cold_image = _search(libs["1"], enc, image)[0]
    CACHE.clear()
    cold_variant = _search(libs["1"], enc, variant)[0]
    assert len(CACHE) > 0
    calls = []
    real = decode.sample_frames
    monkeypatch.setattr(decode, "sample_frames", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    warm_image, warm_variant = _search(libs["1"], enc, image)[0], _search(libs["1"], enc, variant)[0]
    assert calls == []  # every frame of the windows came from the cache
    assert (warm_image.timestamp, warm_variant.timestamp) == (cold_image.timestamp, cold_variant.timestamp)
    assert abs(warm_image.timestamp - 3.52) <= 0.13
    CACHE.clear()
    assert _search(libs["1"], enc, image)[0].timestamp == cold_image.timestamp
    assert len(calls) >= 1  # decoded again


def test_the_feature_cache_keeps_the_most_recently_used_within_its_bytes():
    from vidsearch.search.refine import FeatureCache

    f = (np.zeros((100, 2), np.float32), np.zeros((100, 32), np.uint8))  # 800 + 3200 bytes, + 64
    thumb = np.zeros((36, 64), np.float32)  # + 9216 bytes
    cache = FeatureCache(3 * (4064 + 9216))
    for k in range(3):
        cache.put(k, float(k), f, thumb)
    assert cache.get(0) is not None  # 0 is now the most recent: 1 goes first
    cache.put(3, 3.0, f, thumb)
    assert len(cache) == 3 and cache.get(1) is None and cache.get(0) is not None
    cache.put(4, 4.0, ())  # a frame without features costs little
    assert cache.get(4) == (4.0, (), None)


def test_a_still_picture_is_answered_by_the_middle_of_its_decoded_extent(tmp_path, copy_encoders):
    """A picture held from 2.32 to 8.88 s (frames 58-222 of 25 fps frozen) between moving footage:
    the index sees a static run over the samples 3..8 s, whose middle sample is 5 s; the decoded
    ends of the run put the picture at 2.5-8.75 s on the decode grid, so the instant is its middle
    (any instant of a still is the picture's, and the middle is the nearest to all of them), and
    the moment starts where the picture appeared."""
    from tests.conftest import make_video

    video = make_video(tmp_path / "still.mp4", duration=12.0, source="testsrc2=size=640x360:rate=25,split[a][b];"
                       "[a][b]freezeframes=first=58:last=222:replace=58[out0]")
    plain, refined = _plain_and_refined(video, 5.0, tmp_path, copy_encoders)
    middle = (2.32 + 8.88) / 2
    assert plain.timestamp == pytest.approx(5.0, abs=0.05)  # the run's middle sample
    assert abs(refined.timestamp - middle) <= 0.2, refined
    assert refined.start <= 2.6 and refined.end >= 8.5, refined
    assert (refined.video_id, refined.score) == (plain.video_id, plain.score)


def test_a_fade_is_not_the_same_picture():
    from vidsearch.search.refine import same_picture

    rng = np.random.default_rng(0)
    a = rng.random((36, 64)).astype(np.float32)
    assert same_picture(a, a + 0.001, 0.002)  # coding noise
    assert not same_picture(a, a * 0.9, 0.002)  # the whole picture 10% darker: the ingest's test forgives it
    b = a.copy()
    b[:2, :5] = 1 - b[:2, :5]  # something small moved: too little for the mean, not for the ingest's test
    assert not same_picture(a, b, 0.002)
