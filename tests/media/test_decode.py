"""sample_frames(): which frame each target gets, its true time, display geometry, fallbacks.

Most synthetic videos paint frame n in its own solid colour, so a decoded image tells which frame
it is; its timestamp is then checked against ffmpeg's time for that frame.
"""
from __future__ import annotations

import bisect
import json
import math
import subprocess
import threading

import numpy as np
import pytest

from tests.media.test_probe import FORMATS, make_rotated, make_vfr
from vidsearch.media import MediaError, decode, probe, sample_frames

COLOURS = ("color=c=black:size={size}:rate={fps}:duration={duration},format=rgb24,"
           "geq=r='mod(N*37,256)':g='mod(N*91,256)':b='mod(N*53,256)'")
# colour of frame n; any two of them differ by 38 or more (sum over R, G, B)
PALETTE = np.array([[(n * 37) % 256, (n * 91) % 256, (n * 53) % 256] for n in range(256)], float)


# Every colour frame is a scene cut for x264. No extra I-frames (see test_scene_cut_keyframes_...),
# and no B-frames, which PyAV skips: decord and PyAV then deliver the very same frames.
STEADY_GOP = ["-sc_threshold", "0", "-bf", "0"]


def colours(duration=4, fps=25, size="64x48"):
    return COLOURS.format(size=size, fps=fps, duration=duration)


def frame_number(image: np.ndarray) -> int:
    return int(np.abs(PALETTE - image.reshape(-1, 3).mean(0)).sum(1).argmin())


def ffmpeg_times(path) -> dict[int, float]:
    """Frame number -> time, from the stream's start, as ffmpeg decodes the file."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-of", "json", "-show_entries",
                          "stream=start_time:frame=best_effort_timestamp_time", str(path)],
                         check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    start = float(data["streams"][0].get("start_time", 0))
    return {n: float(f["best_effort_timestamp_time"]) - start
            for n, f in enumerate(data["frames"]) if "best_effort_timestamp_time" in f}


def ffmpeg_frame(path, width, height) -> np.ndarray:
    """The first frame as ffmpeg shows it (autorotated), scaled to width x height."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-vf", f"scale={width}:{height}",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def check_sampling(frames, times: dict[int, float], fps: float, duration: float, *, exact: bool) -> None:
    """``times[n]``: true time of the frame painted in colour n. Every delivered frame must carry its
    own time; it must be the first frame at or after its target (``exact``), or one of the next 3
    (PyAV skips non-reference frames)."""
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(set(stamps)), "timestamps must increase"
    for frame in frames:
        assert frame.timestamp == pytest.approx(times[frame_number(frame.image)], abs=1e-3)
    ordered = sorted(times.values())
    targets = [k / fps for k in range(math.ceil(duration * fps))]
    wanted = sorted({bisect.bisect_left(ordered, t - 1e-3) for t in targets} - {len(ordered)})
    got = [bisect.bisect_left(ordered, s - 1e-3) for s in stamps]
    if exact:
        assert got == wanted
    else:
        assert len(got) == len(wanted) and all(0 <= g - w <= 3 for g, w in zip(got, wanted)), (got, wanted)


@pytest.fixture(params=["decord", "pyav"])
def decoder(request, monkeypatch):
    """Run the test with decord as usual, or with decord failing so that PyAV decodes."""
    if request.param == "pyav":
        def refuse(*args, **kwargs):
            raise RuntimeError("decord switched off by the test")
        monkeypatch.setattr(decode.decord, "VideoReader", refuse)
    return request.param


def frames_of(path, info, **kwargs):
    return [frame for chunk in sample_frames(path, info, **kwargs) for frame in chunk]


@pytest.mark.parametrize("name, kwargs", [(f[0], f[1]) for f in FORMATS], ids=[f[0] for f in FORMATS])
def test_each_target_gets_the_right_frame_with_its_true_time(video_factory, decoder, caplog, name, kwargs):
    path = video_factory(name, source=colours(), **kwargs)
    info = probe(path)
    chunks = list(sample_frames(path, info, fps=3, short_side=64, chunk=5))
    frames = [f for c in chunks for f in c]
    sizes = [len(c) for c in chunks]  # PyAV's first chunks are smaller (4, then 5): the caller starts sooner
    assert sizes[:-1] == sorted(sizes[:-1]) and set(sizes[1:-1]) <= {5} and 0 < sizes[-1] <= 5
    assert sizes[0] == (5 if decoder == "decord" and info.container != "avi" else min(5, decode.FIRST_CHUNK)) or len(sizes) == 1
    assert {f.image.shape for f in frames} == {(64, 85, 3)} and frames[0].image.dtype == np.uint8
    # decord's AVI timestamps are unusable, so AVI always goes to PyAV, which decodes every AVI frame
    used_decord = decoder == "decord" and info.container != "avi"
    assert ("decord failed" not in caplog.text) == used_decord
    check_sampling(frames, ffmpeg_times(path), 3, info.duration, exact=used_decord or info.container == "avi")


def test_variable_frame_rate(video_factory, decoder, caplog):
    path = make_vfr(video_factory, source=colours(), extra_output=["-sc_threshold", "0"])
    frames = frames_of(path, probe(path), fps=4, short_side=64)
    assert ("decord failed" in caplog.text) == (decoder == "pyav")
    kept = {n: n / 25 for n in range(100) if n < 25 or n % 5 == 0}
    check_sampling(frames, kept, 4, 3.84, exact=True)
    assert [f.timestamp for f in frames][4:7] == pytest.approx([1.0, 1.4, 1.6])  # targets 1.0, 1.25, 1.5


def test_scene_cut_keyframes_that_decord_would_misplace_go_to_pyav(video_factory, caplog):
    # x264 makes most of these frames non-IDR I-frames, which the H.264 parser flags as keyframes
    # while the MP4 index does not: decord's seeks landed up to 26 frames early here.
    path = video_factory("cuts.mp4", source=colours(), extra_output=["-bf", "0"])
    frames = frames_of(path, probe(path), fps=3, short_side=64)
    assert "keyframes disagree with the file's seek index" in caplog.text
    check_sampling(frames, ffmpeg_times(path), 3, 4.0, exact=True)


def test_rotation_matches_ffmpeg(video_factory, decoder):
    rotated = make_rotated(video_factory, "96x64")
    image = frames_of(rotated, probe(rotated), short_side=60)[0].image
    assert image.shape == (90, 60, 3)
    reference = ffmpeg_frame(rotated, 60, 90)
    assert diff(image, reference) < 10 < diff(image[::-1, ::-1], reference)


def test_anamorphic_pixels_are_widened(video_factory, decoder):
    path = video_factory("sar.mp4", duration=1, size="160x120", vf="setsar=2")
    image = frames_of(path, probe(path), short_side=60)[0].image
    assert image.shape == (60, 160, 3)
    assert diff(image, ffmpeg_frame(path, 160, 60)) < 10


def test_large_copy_is_the_same_frame_bigger_and_leaves_the_small_one_alone(video_factory):
    """``large_side`` (OCR): PyAV delivers each frame also at a larger short side, the same picture
    at the same time; the small frames are exactly what they are without it. decord gives none."""
    path = video_factory("large.mp4", source=colours(duration=3, size="320x240"), extra_output=STEADY_GOP)
    info = probe(path)
    plain = frames_of(path, info, fps=2, short_side=64, decoder="pyav")
    both = frames_of(path, info, fps=2, short_side=64, large_side=128, chunk=4, decoder="pyav")
    assert len(both) == len(plain) == 6
    for p, b in zip(plain, both):
        assert p.large is None
        assert b.timestamp == p.timestamp and np.array_equal(b.image, p.image)
        assert b.image.shape == (64, 85, 3) and b.large.shape == (128, 171, 3)
        assert frame_number(b.large) == frame_number(b.image)
        assert diff(b.large[::2, ::2][:64, :85], b.image) < 12  # the same picture, not another frame
    by_decord = frames_of(path, info, fps=2, short_side=64, large_side=128)
    assert len(by_decord) == 6 and all(f.large is None for f in by_decord)


def test_large_copy_is_capped_at_the_source_and_turned_like_the_frame(video_factory):
    path = video_factory("small.mp4", source=colours(duration=1, size="64x48"))
    info = probe(path)
    frames = frames_of(path, info, short_side=32, large_side=448, decoder="pyav")
    assert {f.large.shape for f in frames} == {(48, 64, 3)}  # never larger than the source
    not_larger = frames_of(path, info, short_side=48, large_side=448, decoder="pyav")
    assert all(f.large is None for f in not_larger)
    rotated = make_rotated(video_factory, "96x64")
    frame = frames_of(rotated, probe(rotated), short_side=32, large_side=448, decoder="pyav")[0]
    assert frame.image.shape == (48, 32, 3) and frame.large.shape == (96, 64, 3)
    reference = ffmpeg_frame(rotated, 64, 96)
    assert diff(frame.large, reference) < 10 < diff(frame.large[::-1, ::-1], reference)


def test_the_described_stream_of_several_is_decoded(video_factory):
    path = video_factory(
        "multi.mkv", source=colours(duration=2),
        extra_input=["-f", "lavfi", "-i", "testsrc2=size=96x54:rate=30:duration=3",
                     "-f", "lavfi", "-i", "sine=duration=3"],
        extra_output=["-map", "0:v", "-map", "1:v", "-map", "2:a"],
    )
    info = probe(path)
    frames = frames_of(path, info, fps=3, short_side=64)
    assert {f.image.shape for f in frames} == {(64, 85, 3)}
    check_sampling(frames, {n: n / 25 for n in range(50)}, 3, 2.0, exact=False)


def test_stalled_decord_is_abandoned_and_pyav_resumes(video_factory, monkeypatch, caplog):
    path = video_factory("stall.mp4", source=colours(duration=6), extra_output=STEADY_GOP)
    info = probe(path)
    expected = frames_of(path, info, fps=2, short_side=64, chunk=3)
    release = threading.Event()
    real_reader = decode.decord.VideoReader

    class HangsOnSecondBatch:
        def __init__(self, *args, **kwargs):
            self.reader, self.batches = real_reader(*args, **kwargs), 0

        def __getattr__(self, name):
            return getattr(self.reader, name)

        def __len__(self):
            return len(self.reader)

        def get_batch(self, indices):
            self.batches += 1
            if self.batches == 2:
                release.wait(30)
            return self.reader.get_batch(indices)

    monkeypatch.setattr(decode.decord, "VideoReader", HangsOnSecondBatch)
    try:
        chunks = list(sample_frames(path, info, fps=2, short_side=64, chunk=3, timeout=0.5))
    finally:
        release.set()
    assert "decoding with PyAV after 1.000 s" in caplog.text
    assert [f.timestamp for c in chunks for f in c] == pytest.approx([f.timestamp for f in expected], abs=1e-6)
    assert [frame_number(f.image) for c in chunks for f in c] == [frame_number(f.image) for f in expected]
    assert [len(c) for c in chunks] == [3, 3, 3, 3]


def test_stalled_pyav_raises(video_factory, monkeypatch):
    path = video_factory("multi.mkv", duration=3, size="64x48",
                         extra_input=["-f", "lavfi", "-i", "testsrc2=size=64x48:duration=3"],
                         extra_output=["-map", "0:v", "-map", "1:v"])  # two video streams: PyAV decodes
    release = threading.Event()
    real = decode._presentation_order

    def hangs_after_ten_frames(*args, **kwargs):
        for n, item in enumerate(real(*args, **kwargs)):
            if n == 10:
                release.wait(30)
            yield item

    monkeypatch.setattr(decode, "_presentation_order", hangs_after_ten_frames)
    try:
        with pytest.raises(MediaError, match="no progress for 0.5 s") as caught:
            frames_of(path, probe(path), timeout=0.5)
    finally:
        release.set()
    assert caught.value.path == str(path)


def test_truncated_file_yields_what_decodes(video_factory, tmp_path, decoder):
    whole = video_factory("whole.mp4", source=colours(duration=8), extra_output=["-movflags", "+faststart"])
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    info = probe(cut)
    assert info.duration == pytest.approx(8.0)  # the header does not know
    frames = frames_of(cut, info, short_side=64)
    assert 2 <= len(frames) <= 6
    check_sampling(frames, {n: n / 25 for n in range(200)}, 1, frames[-1].timestamp + 1e-6, exact=decoder == "decord")


def test_file_gone_after_probe_raises(video_factory, decoder):
    path = video_factory("gone.mp4", duration=1, size="64x48")
    info = probe(path)
    path.unlink()
    with pytest.raises(MediaError, match="file not found"):
        frames_of(path, info)


def test_memory_is_bounded_by_the_chunk(video_factory):
    import tracemalloc

    path = video_factory("long.mp4", source=colours(duration=10))
    info = probe(path)
    tracemalloc.start()
    try:
        count = sum(len(chunk) for chunk in sample_frames(path, info, fps=10, short_side=224, chunk=4))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    frame_bytes = 224 * 299 * 3
    assert count == 100
    assert peak < 12 * frame_bytes  # all 100 frames would be 100x


# Real clips ------------------------------------------------------------------------------------

TRICKY = ["v_CricketShot_g04_c01_rgb.gif", "nasa_13013.mp4", "goldeneye-vfr-drop3.mp4", "issue-195-aspect-ratio.mp4",
          "vtest.avi", "Megamind.avi", "big_buck_bunny_0_30.webm", "flipping_a_pancake.mkv", "fire2.mp4"]


@pytest.mark.parametrize("name", TRICKY)
def test_real_tricky_clips(shared_videos, name):
    path = shared_videos / name
    info = probe(path)
    frames = frames_of(path, info)
    stamps = [f.timestamp for f in frames]
    assert abs(len(frames) - info.duration) <= 1
    assert stamps == sorted(set(stamps)) and 0 <= stamps[0] < 0.1 and stamps[-1] < info.duration
    aspect = info.display_width / info.display_height
    for f in frames:
        h, w, _ = f.image.shape
        assert min(h, w) == 224 and abs(w / h - aspect) < 0.01


def test_real_upside_down_clip_is_turned(shared_videos):
    path = shared_videos / "fire2.mp4"
    image = frames_of(path, probe(path))[0].image
    reference = ffmpeg_frame(path, 398, 224)
    assert diff(image, reference) < 6 < diff(image[::-1, ::-1], reference)


@pytest.mark.parametrize("name, rate", [("cockatoo.mp4", 20), ("demo.mp4", 28)])
def test_real_frames_are_clean_where_fast_seek_is_corrupt(shared_videos, name, rate):
    """Fast seek returns corrupt frames at 4.6/9.2 s in these; compare with ffmpeg decoding from the start."""
    path = shared_videos / name
    info = probe(path)
    frames = frames_of(path, info)
    w, h = frames[0].image.shape[1], frames[0].image.shape[0]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"select='not(mod(n,{rate}))',scale={w}:{h}",
                          "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    reference = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    assert len(reference) == len(frames) == math.ceil(info.duration)
    assert max(diff(f.image, r) for f, r in zip(frames, reference)) < 6


@pytest.mark.parametrize("name", ["test.avi", "Megamind.avi", "S001C001P001R001A001_rgb.avi"])
def test_real_avi_frames_get_their_times_in_order(shared_videos, name):
    """These AVIs' B-frames come out of the decoder with permuted stamps (1, 2, 4, 3, ...)."""
    path = shared_videos / name
    info = probe(path)
    stamps = [f.timestamp for f in frames_of(path, info, fps=info.fps, short_side=64)]
    assert len(stamps) >= info.frame_count - 3 and stamps[0] < 0.1
    assert np.diff(stamps) == pytest.approx(1 / info.fps, rel=1e-3)  # every frame, evenly spaced


def test_the_pyav_decoder_can_be_chosen_and_gives_the_same_frames(video_factory, monkeypatch):
    path = video_factory("choice.mp4", source=colours())
    info = probe(path)
    auto = frames_of(path, info, fps=2, short_side=64)
    opened = []
    real_reader = decode.decord.VideoReader
    monkeypatch.setattr(decode.decord, "VideoReader", lambda *a, **k: opened.append(a) or real_reader(*a, **k))
    pyav = frames_of(path, info, fps=2, short_side=64, decoder="pyav")
    assert opened == []
    # PyAV skips non-reference frames: a target may get a frame up to 4 frames later, with its true time
    assert len(pyav) == len(auto)
    assert all(0 <= p.timestamp - a.timestamp <= 4 / info.fps + 1e-3 for a, p in zip(auto, pyav))
    with pytest.raises(ValueError, match="unknown decoder"):
        frames_of(path, info, decoder="opencv")


def test_prefetched_runs_ahead_keeps_order_and_passes_errors_on():
    import threading

    from vidsearch.media import MediaError, prefetched

    produced = []
    second_ready = threading.Event()

    def chunks():
        for i in range(3):
            produced.append(i)
            if i == 1:
                second_ready.set()
            yield [i]
        raise MediaError("x.mp4", "broken after 3 chunks")

    it = prefetched(chunks(), depth=1)
    assert next(it) == [0]
    assert second_ready.wait(10)  # chunk 1 was decoded while the caller held chunk 0
    assert next(it) == [1] and next(it) == [2]
    with pytest.raises(MediaError, match="broken after 3 chunks"):
        next(it)


def test_prefetched_stops_its_thread_when_the_caller_stops():
    import threading
    import time

    from vidsearch.media import prefetched

    def endless():
        i = 0
        while True:
            i += 1
            yield [i]

    def mine() -> set:
        return {t for t in threading.enumerate() if t.name == "vidsearch-prefetch"} - before

    before = {t for t in threading.enumerate() if t.name == "vidsearch-prefetch"}
    it = prefetched(endless(), depth=1)
    assert next(it) == [1]
    assert mine()  # its producer runs
    it.close()
    deadline = time.monotonic() + 10
    while mine() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not mine()


def keyframe_numbers(path) -> list[int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-of", "csv=p=0", "-show_entries",
                          "packet=flags", str(path)], check=True, capture_output=True, text=True).stdout
    return [n for n, flags in enumerate(out.split()) if flags.startswith("K")]


@pytest.mark.parametrize("fps", [1, 2])
def test_dense_keyframes_alone_are_the_samples_with_their_true_times(video_factory, fps, caplog):
    # a keyframe a second (an IP camera): 1 and 2 frames/s take the keyframes alone
    path = video_factory("camera.mp4", source=colours(duration=6), extra_output=["-g", "25", *STEADY_GOP])
    info = probe(path)
    assert decode.keyframes_dense(path, fps, info)
    frames = frames_of(path, info, fps=fps, short_side=64, keyframes=True)
    numbers = [frame_number(f.image) for f in frames]
    assert numbers == keyframe_numbers(path) == [0, 25, 50, 75, 100, 125]  # one frame per keyframe, never twice
    times = ffmpeg_times(path)
    assert [f.timestamp for f in frames] == pytest.approx([times[n] for n in numbers], abs=1e-3)
    assert "decoding every reference frame" not in caplog.text
    if fps == 1:  # the very frames that the full decode picks
        assert numbers == [frame_number(f.image) for f in frames_of(path, info, fps=1, short_side=64)]


def test_sparse_keyframes_are_decoded_in_full(video_factory, monkeypatch):
    path = video_factory("archive.mp4", source=colours(duration=6), extra_output=["-g", "100", *STEADY_GOP])
    info = probe(path)
    assert not decode.keyframes_dense(path, 1, info)
    chosen = []
    real = decode._pyav_chunks
    monkeypatch.setattr(decode, "_pyav_chunks", lambda *a, **k: chosen.append(k["keyframes"]) or real(*a, **k))
    frames = frames_of(path, info, fps=1, short_side=64, keyframes=True, decoder="pyav")
    assert chosen == [False]
    check_sampling(frames, ffmpeg_times(path), 1, info.duration, exact=True)


def test_keyframes_that_do_not_decode_alone_send_the_file_to_the_full_decode(video_factory, caplog):
    # intra refresh: the index flags a keyframe a second, but only the first picture is an IDR frame
    path = video_factory("refresh.mp4", source=colours(duration=6),
                         extra_output=["-x264-params", "keyint=25:intra-refresh=1", *STEADY_GOP])
    info = probe(path)
    assert decode.keyframes_dense(path, 1, info)
    frames = frames_of(path, info, fps=1, short_side=64, keyframes=True, chunk=1)
    assert "no keyframe decodes after 0.000 s" in caplog.text and "reference frame from 0.000 s" in caplog.text
    check_sampling(frames, ffmpeg_times(path), 1, info.duration, exact=True)


def test_skipping_the_loop_filter_keeps_the_frames_and_their_times(video_factory):
    path = video_factory("deblock.mp4", source="testsrc2=size=320x240:rate=25", duration=4,
                         extra_output=["-g", "100"])
    info = probe(path)
    full = frames_of(path, info, fps=2, short_side=120, decoder="pyav")
    fast = frames_of(path, info, fps=2, short_side=120, decoder="pyav", skip_loop_filter=True)
    assert [f.timestamp for f in fast] == [f.timestamp for f in full]
    errors = [diff(a.image, b.image) for a, b in zip(full, fast)]
    assert max(errors) < 4 and errors[0] < max(errors)  # the first (intra) frame drifts least


def test_keyframes_decoded_alone_skip_the_loop_filter_too(video_factory):
    # a keyframe a second, coarsely coded so that the deblocking filter has edges to smooth
    path = video_factory("camera_deblock.mp4", source="testsrc2=size=320x240:rate=25", duration=4,
                         extra_output=["-g", "25", "-crf", "40", *STEADY_GOP])
    info = probe(path)
    assert decode.keyframes_dense(path, 1, info)
    kept = frames_of(path, info, fps=1, short_side=120, keyframes=True)
    fast = frames_of(path, info, fps=1, short_side=120, keyframes=True, skip_loop_filter=True)
    assert [f.timestamp for f in fast] == [f.timestamp for f in kept] == pytest.approx([0, 1, 2, 3], abs=1e-3)
    errors = [diff(a.image, b.image) for a, b in zip(kept, fast)]
    assert 0 < max(errors) < 2  # the filter was skipped; an intra frame alone drifts little


@pytest.mark.parametrize("preset, skips", [("veryfast", True), ("medium", False)])
def test_bframes_are_skipped_only_where_the_other_frames_decode_the_same(video_factory, preset, skips):
    # x264 veryfast: one reference frame, B-pyramid: P-frames never refer to the reference B-frames;
    # medium: three reference frames, and its P-frames do (as in most of the shared clips)
    path = video_factory(f"{preset}.mp4", source="testsrc2=size=320x240:rate=25", duration=4,
                         extra_output=["-preset", preset, "-g", "100"])
    info = probe(path)
    assert decode.bframes_unreferenced(path) is skips
    every = {round(f.timestamp, 3): f.image for f in frames_of(path, info, fps=25, short_side=120, decoder="pyav")}
    fast = frames_of(path, info, fps=2, short_side=120, decoder="pyav", skip_bframes=True)
    assert len(fast) == 8
    for k, f in enumerate(fast):  # an I- or P-frame at most BFRAME_GAP after its target, exactly as decoded
        assert 0 <= f.timestamp - k / 2 <= decode.BFRAME_GAP + 1e-3
        assert diff(f.image, every[round(f.timestamp, 3)]) == 0
    if skips:  # some targets got a later frame than the ordinary decode gives them
        plain = frames_of(path, info, fps=2, short_side=120, decoder="pyav")
        assert [f.timestamp for f in fast] != [f.timestamp for f in plain]


def test_a_file_without_bframes_is_decoded_as_before(video_factory):
    path = video_factory("nob.mp4", source="testsrc2=size=320x240:rate=25", duration=3, extra_output=["-bf", "0"])
    assert not decode.bframes_unreferenced(path)


def test_real_clips_whose_pframes_use_bframes_later_are_refused(shared_videos):
    # nasa_13013.mp4 decodes alike without its B-frames for its first second only: its P-frames
    # refer to reference B-frames from 1.04 s on (a 1-s check let it through)
    path = shared_videos / "nasa_13013.mp4"
    assert decode.bframes_unreferenced(path, seconds=1.0)
    assert not decode.bframes_unreferenced(path)
