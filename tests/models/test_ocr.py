"""OCR: text regions, Tesseract batch reading, the change gate, TSV parsing."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.conftest import make_video
from vidsearch.models.ocr import OcrGate, TesseractReader, clean_words, parse_tsv, text_regions

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract-ocr is not installed (scripts/install installs it)")


def frames_of(path, fps=1.0):
    from vidsearch.media import probe, sample_frames

    info = probe(str(path))
    return [f for chunk in sample_frames(str(path), info, fps=fps, short_side=224, chunk=32, timeout=60) for f in chunk]


@pytest.fixture(scope="module")
def sign_frames(tmp_path_factory):
    """224-px frames: plain green (0-2 s), "EXIT" on green (2-4 s), "OPEN" on green (4-6 s)."""
    folder = tmp_path_factory.mktemp("ocr")
    draw = "drawtext=text='{}':fontcolor=white:fontsize=72:x=(w-text_w)/2:y=(h-text_h)/2:enable='between(t,{},{})'"
    vf = ",".join([draw.format("EXIT", 2, 3.99), draw.format("OPEN", 4, 6)])
    try:
        path = make_video(folder / "signs.mp4", duration=6, source="color=c=darkgreen:size=320x240:rate=25:duration=6",
                          vf=vf)
    except Exception as exc:  # ffmpeg without drawtext or without a font
        pytest.skip(f"ffmpeg cannot draw text here: {exc}")
    return [f.image for f in frames_of(path)]


def test_text_regions_find_the_sign_and_nothing_on_a_plain_frame(sign_frames):
    assert text_regions(sign_frames[0]) == []
    boxes = text_regions(sign_frames[2])
    assert boxes
    x, y, w, h = boxes[0]
    H, W = sign_frames[2].shape[:2]
    assert w > h and x < W / 2 < x + w and y < H / 2 < y + h  # the centred word


@needs_tesseract
@pytest.mark.parametrize("retry_inverted", [True, False])
@pytest.mark.parametrize("in_process", [True, False], ids=["library", "program"])
def test_reader_reads_signs_in_one_batch(sign_frames, retry_inverted, in_process):
    reader = TesseractReader(retry_inverted=retry_inverted, in_process=in_process)
    assert (reader.engine is not None) == in_process
    job = reader.start([sign_frames[2]])
    job.cancel()
    if in_process:
        assert (("tessedit_do_invert", "0") in reader.engine.variables.items()) != retry_inverted
    else:
        assert ("tessedit_do_invert=0" in job.proc.args) != retry_inverted
    texts = reader.read([sign_frames[0], sign_frames[2], sign_frames[4]])
    assert texts[0] == ""
    assert "exit" in texts[1].split()
    assert "open" in texts[2].split()


def test_gate_reads_each_new_text_once(sign_frames):
    gate = OcrGate()
    times = [float(i) for i in range(len(sign_frames))]
    chosen = [i for i, _ in gate.select(sign_frames, times)]
    # frame 0/1: no text; 2 and 3 show the same sign (read once); 4 shows another word
    assert chosen[0] == 2 and 3 not in chosen and 4 in chosen
    assert gate.select([sign_frames[4]], [10.0]) == []  # unchanged picture later on: not read again


def test_parse_tsv_and_clean_words():
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t10\t10\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t91.5\tEXIT\n"
           "5\t2\t1\t1\t1\t1\t0\t0\t10\t10\t30.0\tq~\n"
           "5\t2\t1\t1\t1\t2\t0\t0\t10\t10\t88.0\tGate,\n")
    pages = parse_tsv(tsv)
    assert pages == {0: [("EXIT", 91.5)], 1: [("q~", 30.0), ("Gate,", 88.0)]}
    assert clean_words(pages[1], 60) == ["gate"]
    assert clean_words([("--", 99.0), ("a", 99.0), ("42", 95.0)], 60) == ["42"]


def test_reader_is_unavailable_without_tesseract(monkeypatch):
    from vidsearch.models import ModelUnavailable

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ModelUnavailable, match="tesseract-ocr"):
        TesseractReader()


def test_no_text_no_process(monkeypatch):
    import subprocess

    calls = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(a))
    reader = TesseractReader.__new__(TesseractReader)
    reader.scale, reader.min_conf, reader.timeout = 2.0, 60.0, 10.0
    assert reader.read([np.zeros((224, 224, 3), np.uint8)]) == [""]
    assert calls == []


@needs_tesseract
def test_start_reads_in_the_background_and_cancel_leaves_nothing(sign_frames):
    import os

    reader = TesseractReader(in_process=False)
    job = reader.start([sign_frames[2], sign_frames[4]])
    assert job.proc is not None and os.path.isdir(job.tmp.name)  # running while the caller goes on
    assert [t.split() for t in job.result()] == [["exit"], ["open"]]
    assert not os.path.exists(job.tmp.name)

    job = reader.start([sign_frames[2]])
    folder = job.tmp.name
    job.cancel()
    assert job.proc.poll() is not None and not os.path.exists(folder)


@needs_tesseract
def test_in_process_reads_in_a_thread_and_cancel_stops_it(sign_frames):
    reader = TesseractReader()
    job = reader.start([sign_frames[2], sign_frames[4]])
    assert job.thread is not None and job.proc is None and job.tmp is None  # no process, no files
    assert [t.split() for t in job.result()] == [["exit"], ["open"]]
    assert not job.thread.is_alive()

    job = reader.start([sign_frames[2]] * 40)
    job.cancel()  # stops between crops
    assert not job.thread.is_alive() and job._pages is None
    assert reader.read([sign_frames[4]]) == ["open"]  # the engine is still fine afterwards


@needs_tesseract
def test_in_process_read_past_its_timeout_is_skipped_with_a_warning(sign_frames, caplog):
    reader = TesseractReader(timeout=0.001)
    with caplog.at_level("WARNING"):
        assert reader.read([sign_frames[2]] * 20) == [""] * 20
    assert "took longer than" in caplog.text


@pytest.fixture(scope="module")
def small_caption(tmp_path_factory):
    """A 1280x720 video with a small caption ("SEND SPIKE", 18 px high in the source, about 6 px in
    the 224-px frame), decoded at 224 px with a 448-px copy (``Frame.large``)."""
    from vidsearch.media import probe, sample_frames

    folder = tmp_path_factory.mktemp("ocr-small")
    try:
        path = make_video(folder / "caption.mp4", duration=2, source="color=c=navy:size=1280x720:rate=25:duration=2",
                          vf="drawtext=text='SEND SPIKE':fontcolor=white:fontsize=18:x=(w-text_w)/2:y=(h-text_h)/2")
    except Exception as exc:  # ffmpeg without drawtext or without a font
        pytest.skip(f"ffmpeg cannot draw text here: {exc}")
    info = probe(str(path))
    return [f for c in sample_frames(str(path), info, fps=1, short_side=224, large_side=448, decoder="pyav") for f in c][0]


def test_crop_from_the_large_copy_has_the_size_of_the_small_crop_upscaled(small_caption):
    from vidsearch.models.ocr import _crop

    f = small_caption
    assert f.image.shape[0] == 224 and f.large.shape[0] == 448
    box = text_regions(f.image)[0]
    small, large = _crop(f.image, box, 2.0), _crop(f.image, box, 2.0, f.large)
    assert abs(small.shape[0] - large.shape[0]) <= 2 and abs(small.shape[1] - large.shape[1]) <= 2
    # a copy larger than ``scale`` times the frame is read at its own size, not shrunk
    big = np.repeat(np.repeat(f.large, 2, axis=0), 2, axis=1)  # 896 px
    assert abs((_crop(f.image, box, 2.0, big).shape[0] - 16) - 2 * (small.shape[0] - 16)) <= 2  # 8-px border


@needs_tesseract
def test_small_caption_is_read_from_the_large_copy_and_not_from_the_small_frame(small_caption):
    f = small_caption
    boxes = text_regions(f.image)  # found on the small frame
    assert boxes
    reader = TesseractReader()
    small, large = reader.read([f.image], [boxes]), reader.read([f.image], [boxes], [f.large])
    assert set(large[0].split()) >= {"send", "spike"}
    assert not set(small[0].split()) >= {"send", "spike"}


def test_unmatched_box_means_new_text():
    from vidsearch.models.ocr import _unmatched

    last = [(213, 90, 200, 65), (124, 0, 24, 12)]
    assert not _unmatched([(213, 90, 201, 65), (125, 0, 23, 12)], last, 0.5)  # the same boxes, jittered
    assert _unmatched([(213, 90, 201, 65), (297, 105, 50, 14)], last, 0.5)  # a line inside the big box
    assert _unmatched([(10, 10, 40, 10)], [], 0.5)


def test_gate_reads_text_typed_inside_a_larger_text_region(shared_videos):
    """goldeneye-vfr-drop3.mp4: a dialog on a computer screen; "Send Spike" is typed into it during
    the first second and stays until the cut at 3.75 s. The frame at 0 s is read ("> Send S"
    inside the dialog, one text region with the portrait); the typed line becomes a box of its
    own, which changes neither the regions' mask nor their mean, so only the new-box rule reads
    it again."""
    frames = frames_of(shared_videos / "goldeneye-vfr-drop3.mp4")[:4]
    images, times = [f.image for f in frames], [f.timestamp for f in frames]
    chosen = [times[i] for i, _ in OcrGate().select(images, times)]
    assert chosen[0] < 0.5 and any(1.5 < t < 3.75 for t in chosen)
    old = [times[i] for i, _ in OcrGate(new_boxes=False).select(images, times)]
    assert old == [times[0]]


@pytest.fixture(scope="module")
def busy_and_caption_frames(tmp_path_factory):
    """224-px samples, 1 a second, of two 320x240 videos with the label "GATE 4" on a black band at
    the top throughout. Busy (8 s): a white quarter of the picture moves one place right every
    second (back to the left after the fourth), so every sample's picture changes. Caption (5 s): grey until 1 s, then
    the left half turns white and the caption "EXIT" appears in the right half, both staying."""
    folder = tmp_path_factory.mktemp("ocr_interval")
    band = "drawbox=x=0:y=0:w=iw:h=60:color=black:t=fill"
    label = "drawtext=text='GATE 4':fontcolor=white:fontsize=40:x=(w-text_w)/2:y=10"
    half = "drawbox=x={}:y=60:w=iw/2:h=ih-60:color=white:t=fill:enable='{}'"
    quarter = "drawbox=x=iw*{0}/4:y=60:w=iw/4:h=ih-60:color=white:t=fill:enable='eq(mod(floor(t),4),{0})'"
    busy_vf = ",".join([*(quarter.format(k) for k in range(4)), band, label])
    exit_text = "drawtext=text='EXIT':fontcolor=black:fontsize=40:x=190:y=160:enable='gte(t,1)'"
    caption_vf = ",".join([half.format(0, "gte(t,1)"), exit_text, band, label])
    try:
        busy = make_video(folder / "busy.mp4", duration=8, source="color=c=gray:size=320x240:rate=25:duration=8",
                          vf=busy_vf)
        caption = make_video(folder / "caption.mp4", duration=5,
                             source="color=c=gray:size=320x240:rate=25:duration=5", vf=caption_vf)
    except Exception as exc:  # ffmpeg without drawtext or without a font
        pytest.skip(f"ffmpeg cannot draw text here: {exc}")
    return frames_of(busy), frames_of(caption)


def read_times(frames, **gate):
    """The sample times that an :class:`OcrGate` with ``gate`` settings reads, fed 3 samples a
    call (as the indexer feeds it batches)."""
    g, out = OcrGate(**gate), []
    for k in range(0, len(frames), 3):
        part = frames[k:k + 3]
        out += [round(part[i].timestamp) for i, _ in g.select([f.image for f in part], [f.timestamp for f in part])]
    return out


def test_min_interval_reads_a_busy_video_every_other_second(busy_and_caption_frames):
    busy, _ = busy_and_caption_frames
    assert [round(f.timestamp) for f in busy] == list(range(8))
    assert all(text_regions(f.image) for f in busy)
    assert read_times(busy) == list(range(8))  # the gate alone (VIDSEARCH_OCR_INTERVAL=0): each sample
    assert read_times(busy, min_interval=0.0) == list(range(8))
    assert read_times(busy, min_interval=2.0) == [0, 2, 4, 6]
    assert read_times(busy, min_interval=3.0) == [0, 3, 6]


def read_times_heard(frames, texts, **gate):
    """As :func:`read_times`, each read reported back to the gate as having found ``texts(t)``."""
    g, out = OcrGate(**gate), []
    for k in range(0, len(frames), 3):
        part = frames[k:k + 3]
        chosen = [round(part[i].timestamp) for i, _ in g.select([f.image for f in part], [f.timestamp for f in part])]
        g.heard([texts(t) for t in chosen])
        out += chosen
    return out


def test_reads_that_find_nothing_back_off_up_to_the_ceiling(busy_and_caption_frames):
    """Fed 3 samples a call, each call's reads heard before the next. The busy picture repeats every
    4 s (so 4 s looks like 0 s, which was read: not read again)."""
    busy, _ = busy_and_caption_frames
    nothing = lambda t: ""  # noqa: E731
    noise = lambda t: "re fe"  # noqa: E731  (two-letter noise: counts as nothing)
    words = lambda t: "gate 4"  # noqa: E731
    assert read_times_heard(busy, nothing, min_interval=2.0) == [0, 2, 4, 6]  # no ceiling: no back-off
    # 0 and 2 s are chosen before anything is heard; both empty: 2 -> 8 s
    assert read_times_heard(busy, nothing, min_interval=2.0, max_interval=8.0) == [0, 2]
    assert read_times_heard(busy, noise, min_interval=2.0, max_interval=8.0) == [0, 2]
    assert read_times_heard(busy, nothing, min_interval=2.0, max_interval=3.0) == [0, 2, 5]  # capped at 3 s
    assert read_times_heard(busy, words, min_interval=2.0, max_interval=8.0) == [0, 2, 4, 6]
    # after empty reads, a read that finds a word puts the interval back to 2 s
    g, out = OcrGate(min_interval=2.0, max_interval=4.0), []
    for k in range(0, len(busy), 3):
        part = busy[k:k + 3]
        chosen = [round(part[i].timestamp) for i, _ in g.select([f.image for f in part], [f.timestamp for f in part])]
        g.heard(["exit" if t >= 5 else "" for t in chosen])
        out += chosen
    assert out == [0, 2, 7] and g._wait is None  # (6 s looks like 2 s)
    assert read_times_heard(busy, nothing, min_interval=0.0, max_interval=8.0) == list(range(8))  # no interval


def test_a_caption_that_appears_is_still_read_within_the_interval(busy_and_caption_frames):
    _, caption = busy_and_caption_frames
    assert read_times(caption) == [0, 1]  # the caption comes with a picture change at 1 s: read at once
    # with the interval, 1 s is too soon after the read at 0 s; the next sample is compared with the
    # frame read at 0 s (not the skipped one), so the caption is read at 2 s, and not again after
    assert read_times(caption, min_interval=2.0) == [0, 2]
    g = OcrGate(min_interval=2.0)
    chosen = g.select([f.image for f in caption], [f.timestamp for f in caption])
    (first, boxes0), (second, boxes2) = chosen
    assert len(boxes2) > len(boxes0)  # the caption's box is among those read at 2 s
    if shutil.which("tesseract"):
        texts = TesseractReader().read([caption[second].image], [boxes2])
        assert "exit" in texts[0].split()


def test_a_tall_text_box_is_not_upscaled_past_the_line_height_tesseract_needs():
    from vidsearch.models.ocr import MAX_LINE_PX, _crop

    img = np.full((224, 398, 3), 200, np.uint8)
    small, tall = (10, 10, 60, 12), (10, 60, 300, 90)
    m_small, m_tall = 6, 45  # the margin: half the box's height
    assert _crop(img, small, 2.0).shape[0] == 2 * (12 + 2 * m_small) + 16  # twice, plus the 8-px border
    assert _crop(img, tall, 2.0).shape[0] == min(224, 60 + 90 + m_tall) - (60 - m_tall) + 16  # own size
    mid = (10, 30, 100, 40)  # 2x would be 80 px tall: scaled to MAX_LINE_PX instead
    assert _crop(img, mid, 2.0).shape[0] == round((40 + 2 * 20) * MAX_LINE_PX / 40) + 16
