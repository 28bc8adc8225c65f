"""Free-text search end to end: parsing, on-screen text, concepts, filters, moments, why, CLI."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import _need_ffmpeg
from vidsearch.search.text import parse_query, text_score

WALL = 1_700_000_000.0  # a recording start (seconds since the epoch) for the wall-clock filter


def test_parse_query():
    q = parse_query('the EXIT sign')
    assert q.words == ["exit", "sign"] and q.ocr_words == ["exit"] and q.phrases == []
    q = parse_query('a "Big Buck Bunny" title')
    assert q.phrases == [["big", "buck", "bunny"]] and q.text == "a Big Buck Bunny title"
    assert parse_query("sign").ocr_words == ["sign"]  # nothing left but the container word: keep it
    with pytest.raises(ValueError, match="no words"):
        parse_query('  ""  ')


def test_text_score():
    q = parse_query("initiate search")
    assert text_score("initiate search program", q) == (1.0, ["initiate", "search"])
    s, words = text_score("search program", q)
    assert 0 < s < 1 and words == ["search"]
    assert text_score("", q) == (0.0, [])
    assert text_score("search initiate", q)[0] < 1.0  # both words, not in order


def test_text_score_forgives_one_misread_letter():
    from vidsearch.search.text import FUZZY_WEIGHT, near_words, one_edit

    assert {"searc", "seach", "saerch", "searchs", "seerch"} <= near_words("search")
    assert near_words("exit") == set()  # short words match exactly only
    assert all(one_edit("bunny", v) for v in near_words("bunny"))
    assert not one_edit("bunny", "bonky") and not one_edit("bunny", "bunny") and not one_edit("bunny", "bun")
    # OCR's "searc": a near match counts FUZZY_WEIGHT of an exact one, and says what was read
    s, read = text_score("initiate searc program", parse_query("initiate search"))
    exact, _ = text_score("initiate search program", parse_query("initiate search"))
    half, _ = text_score("initiate", parse_query("initiate search"))
    assert read == ["initiate", "searc"] and half < s < exact == 1.0
    assert text_score("ksa insurancer", parse_query("insurance")) == (FUZZY_WEIGHT, ["insurancer"])
    assert text_score("exlt", parse_query("exit")) == (0.0, [])  # 4 letters: too many words are one edit away
    assert text_score("bonky", parse_query("bunny")) == (0.0, [])  # two edits


def _ranked(frames_by_video: dict[str, list[tuple[float, float]]], limit: int = 10):
    """_moments over hand-made frame scores (video -> [(time, score)]), shots unknown: (video, frame time)."""
    from pathlib import Path
    from types import SimpleNamespace

    from vidsearch.records import FrameHit
    from vidsearch.search.text import _Frame, _moments

    frames = [_Frame(FrameHit(vid, t, int(t * 1000), s, t + 1.0), score=s)
              for vid, pts in frames_by_video.items() for t, s in pts]
    rec = SimpleNamespace(status="indexed", path="/v.mp4", duration=100.0)
    catalog = SimpleNamespace(get=lambda vid: rec)
    settings = SimpleNamespace(sample_fps=1.0, moment_gap=2.0, thumbnails_dir=Path("/nonexistent"))
    return [(m.video_id, m.timestamp) for m in _moments(frames, parse_query("x"), None, None, catalog, settings, limit)[0]]


def test_one_video_does_not_fill_the_first_results(monkeypatch):
    import vidsearch.search.text as text

    # "long": four separate hits (every 10 s) that all beat "other"'s single hit
    scores = {"long": [(0.0, 0.9), (10.0, 0.89), (20.0, 0.88), (30.0, 0.87)], "other": [(5.0, 0.5)]}
    monkeypatch.setattr(text, "PER_VIDEO", 2)
    assert _ranked(scores) == [("long", 0.0), ("long", 10.0), ("other", 5.0), ("long", 20.0), ("long", 30.0)]
    assert _ranked(scores, limit=3)[-1] == ("other", 5.0)
    monkeypatch.setattr(text, "PER_VIDEO", 100)  # no cap: plain score order
    assert _ranked(scores) == [("long", 0.0), ("long", 10.0), ("long", 20.0), ("long", 30.0), ("other", 5.0)]
    # one video (a --video search): every moment kept, in score order
    monkeypatch.setattr(text, "PER_VIDEO", 2)
    assert _ranked({"long": scores["long"]}) == [("long", t) for t in (0.0, 10.0, 20.0, 30.0)]


def test_moment_edges_are_half_a_sample_period_earlier():
    from pathlib import Path
    from types import SimpleNamespace

    from vidsearch.records import FrameHit
    from vidsearch.search.text import _Frame, _moments, centred

    # samples every 1 s: a scene seen in the samples at 5, 6 and 7 s (the one at 8 s differs) began
    # after 4 s and ended before 8 s, so its best estimate is 4.5-7.5, not 5-8
    assert centred(5.0, 8.0, 1.0, 100.0) == (4.5, 7.5)
    assert centred(5.0, 8.0, 0.5, 100.0) == (4.75, 7.75)
    assert centred(0.04, 3.0, 1.0, 100.0) == (0.0, 2.5)  # never before the video's start
    assert centred(97.0, 100.0, 1.0, 100.0) == (96.5, 100.0)  # a span to the video's end keeps it
    assert centred(97.0, 100.4, 1.0, 100.0) == (96.5, 100.0)
    assert centred(97.0, 100.0, 1.0, None) == (96.5, 99.5)  # duration unknown
    assert centred(5.0, 8.0, 1.0, 100.0, after=4.8) == (4.8, 7.5)  # not before the query's bound

    frames = [_Frame(FrameHit("v", t, 0, 0.9, t + 1.0), score=0.9) for t in (5.0, 6.0, 7.0)]
    frames.append(_Frame(FrameHit("v", 99.0, 1, 0.5, 100.0), score=0.5))
    rec = SimpleNamespace(status="indexed", path="/v.mp4", duration=100.0)
    settings = SimpleNamespace(sample_fps=1.0, moment_gap=2.0, thumbnails_dir=Path("/nonexistent"))
    moments, _ = _moments(frames, parse_query("x"), None, None, SimpleNamespace(get=lambda vid: rec), settings, 10)
    assert [(m.start, m.end) for m in moments] == [(4.5, 7.5)]  # 99 s scores below KEEP of the best
    assert moments[0].start <= moments[0].timestamp < moments[0].end


@pytest.fixture(scope="module")
def signs(tmp_path_factory, encoders):
    """One library holding a 12-s video: navy (0-4 s), "EXIT" on green (4-8 s), a test pattern
    (8-12 s), recorded (the wall-clock start is known) at WALL."""
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract-ocr is not installed (scripts/install installs it)")
    pytest.importorskip("sentence_transformers")
    from vidsearch.config import Settings
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("text")
    video = tmp / "exit.mp4"
    graph = ("[1:v]drawtext=text='EXIT':fontcolor=white:fontsize=72:x=(w-text_w)/2:y=(h-text_h)/2[t];"
             "[0:v][t][2:v]concat=n=3:v=1:a=0,format=yuv420p[out]")
    cmd = [_need_ffmpeg(), "-v", "error", "-y"]
    for src in ("color=c=navy:", "color=c=darkgreen:", "testsrc2="):
        cmd += ["-f", "lavfi", "-i", f"{src}size=320x240:rate=25:duration=4"]
    cmd += ["-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", str(video)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        pytest.skip("ffmpeg cannot draw text here (no drawtext or no font)")
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp / "data")})
    lib = Library(settings, encoders=encoders)
    res = lib.runner.ingest_file(video, wall_start=WALL)
    assert res.status == "indexed", res.error
    yield lib, res.video_id, tmp
    lib.close()


def test_exit_sign_is_found_by_its_text(signs):
    lib, vid, _ = signs
    moments = lib.search_text("EXIT sign", limit=5)
    best = moments[0]
    assert best.video_id == vid
    assert 3.5 <= best.start and best.end <= 8.5 and best.start <= best.timestamp < best.end
    assert any(w.startswith("text on screen: 'exit'") for w in best.extra["why"])
    d = best.to_dict()
    assert set(d) >= {"video_id", "path", "start", "end", "timestamp", "score", "thumbnail", "why"}
    assert all(isinstance(w, str) for w in d["why"])
    # the sign outranks every moment without it
    assert all(m.score < best.score for m in moments[1:])


def test_quoted_text_must_be_on_screen(signs):
    lib, vid, _ = signs
    moments = lib.search_text('"exit"')
    assert moments and all(4.0 <= m.timestamp < 8.0 for m in moments)
    assert lib.search_text('"zebra crossing"') == []


def test_filters_by_video_and_video_time(signs):
    lib, vid, _ = signs
    late = lib.search_text("EXIT sign", after=9.0)
    assert all(m.timestamp >= 9.0 and "exit" not in " ".join(m.extra["why"]) for m in late)
    assert lib.search_text("EXIT sign", video_id="no-such-video") == []
    inside = lib.search_text("EXIT sign", after=3.0, before=9.0)
    assert inside and inside[0].video_id == vid and 4.0 <= inside[0].timestamp < 8.0


def test_filters_by_wall_clock(signs):
    lib, vid, _ = signs
    hits = lib.search_text("EXIT sign", wall_after=WALL + 3, wall_before=WALL + 9)
    assert hits and 4.0 <= hits[0].timestamp < 8.0
    assert lib.search_text("EXIT sign", wall_after=WALL + 3600) == []


def test_concepts_are_stored_per_frame_and_segment(signs):
    lib, vid, _ = signs
    from vidsearch.index.store import CONCEPT

    q = lib.encoders.concepts.embed_query("a test pattern")
    frames = lib.store.search_frames(CONCEPT, q, 50, video_id=vid)
    assert len(frames) == lib.store.count_frames(vid) > 0
    assert all(isinstance(h.extra.get("concepts"), list) and h.extra["concepts"] for h in frames)
    segments = lib.store.search_segments(CONCEPT, q, 10, video_id=vid)
    assert len(segments) == lib.store.count_segments(vid) > 0


def test_cli_text_search_json_and_wall_time(signs, monkeypatch, capsys):
    from datetime import datetime, timezone

    from vidsearch import cli

    lib, vid, tmp = signs
    monkeypatch.setattr("vidsearch.library.Library", lambda settings, **kw: _Borrowed(lib))
    assert cli.main(["search", "--text", "EXIT sign", "--json", "--limit", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["video_id"] == vid and out["results"][0]["why"]
    after = datetime.fromtimestamp(WALL + 3, timezone.utc).isoformat()
    before = datetime.fromtimestamp(WALL + 9, timezone.utc).isoformat()
    assert cli.main(["search", "--text", "EXIT sign", "--after", after, "--before", before]) == 0
    text = capsys.readouterr().out
    assert "exit.mp4" in text and "why: text on screen: 'exit'" in text
    # a date-time bound is refused for image queries (they have no wall-clock filter)
    assert cli.main(["search", "--image", str(tmp / "none.png"), "--after", after]) == 2


class _Borrowed:
    """The test's open library, handed to the CLI without closing it."""

    def __init__(self, lib):
        self.lib = lib

    def __getattr__(self, name):
        return getattr(self.lib, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_real_clips_concepts(shared_videos, encoders, tmp_path):
    """On real footage, concept vectors tell a cockatoo from a dog."""
    pytest.importorskip("sentence_transformers")
    from vidsearch.config import Settings
    from vidsearch.library import Library

    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data")})
    with Library(settings, encoders=encoders) as lib:
        ids = {r.path.rsplit("/", 1)[1]: r.video_id
               for r in lib.ingest([shared_videos / "cockatoo.mp4", shared_videos / "01_dog.mp4"])}
        assert lib.search_text("a white cockatoo")[0].video_id == ids["cockatoo.mp4"]
        best = lib.search_text("a small fluffy dog on a leash")[0]
        assert best.video_id == ids["01_dog.mp4"]
        assert any(w.startswith(("shows: ", "the picture resembles")) for w in best.extra["why"])


def test_a_named_colour_picks_its_scene(tmp_path):
    """With the ``colour`` detector at ingest, a query that names a colour ranks the scene of that
    colour first among scenes that are otherwise alike (the same disc, red then blue), and says so
    in ``why``; without a colour word the channel changes nothing."""
    pytest.importorskip("sentence_transformers")
    from vidsearch.config import Settings
    from vidsearch.library import Library

    video = tmp_path / "colours.mp4"
    cmd = [_need_ffmpeg(), "-v", "error", "-y"]
    for c in ("red", "blue"):
        cmd += ["-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=25:duration=4"]
    graph = ";".join(f"[{i}:v]drawbox=x=100:y=60:w=120:h=120:color={c}:t=fill[v{i}]" for i, c in enumerate(("red", "blue")))
    cmd += ["-filter_complex", graph + ";[v0][v1]concat=n=2:v=1:a=0,format=yuv420p[out]", "-map", "[out]",
            "-c:v", "libx264", "-preset", "veryfast", str(video)]
    subprocess.run(cmd, check=True, capture_output=True)
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_DETECTORS": "colour",
                                  "VIDSEARCH_OCR": "0"})
    with Library(settings) as lib:
        res = lib.runner.ingest_file(video)
        assert res.status == "indexed", res.error
        for colour, (lo, hi) in (("red", (0.0, 4.0)), ("blue", (4.0, 8.0))):
            best = lib.search_text(f"a {colour} square", limit=3, include_weak=True)[0]  # plain discs score low
            assert lo - 0.5 <= best.timestamp < hi, (colour, best)
            assert any(w.startswith(f"colour: {colour}") for w in best.extra["why"]), best.extra["why"]
            # the other scene lacks the colour: its why does not claim it
            bounds = {"before": lo - 0.5} if lo > 0 else {"after": hi}
            other = lib.search_text(f"a {colour} square", limit=3, include_weak=True, **bounds)
            assert other and not any(w.startswith("colour:") for m in other for w in m.extra["why"])
        plain = lib.search_text("a square", limit=3, include_weak=True)
        assert all(not w.startswith("colour:") for m in plain for w in m.extra["why"])


@pytest.mark.parametrize("engine", ["tesseract", "ppocr"])
def test_a_word_one_letter_off_still_finds_the_text(tmp_path, encoders, engine):
    """Through the real store and each OCR engine (VIDSEARCH_OCR_ENGINE): the on-screen word
    "WAREHOUSE" is found by a query with one letter off (as OCR misreads one), ranked by the text
    channel, and not by one with two."""
    if engine == "tesseract" and shutil.which("tesseract") is None:
        pytest.skip("tesseract-ocr is not installed (scripts/install installs it)")
    if engine == "ppocr":
        pytest.importorskip("rapidocr", reason="rapidocr is not installed (pip install -e '.[test]' installs it)")
    pytest.importorskip("sentence_transformers")
    from vidsearch.config import Settings
    from vidsearch.library import Library

    video = tmp_path / "warehouse.mp4"
    cmd = [_need_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=darkgreen:size=320x240:rate=25:duration=3",
           "-vf", "drawtext=text='WAREHOUSE':fontcolor=white:fontsize=48:x=(w-text_w)/2:y=(h-text_h)/2,format=yuv420p",
           "-c:v", "libx264", "-preset", "veryfast", str(video)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        pytest.skip("ffmpeg cannot draw text here (no drawtext or no font)")
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_OCR_ENGINE": engine})
    with Library(settings, encoders=encoders if engine == "tesseract" else None) as lib:
        assert lib.runner.ingest_file(video).status == "indexed"
        assert type(lib.encoders.ocr).__name__ == {"tesseract": "TesseractReader", "ppocr": "PPOCRReader"}[engine]
        for query in ("warehouse", "warehose", "wraehouse", "warehouses"):
            moments = lib.search_text(query, limit=3)
            assert moments and "text on screen: 'warehouse'" in moments[0].extra["why"], (query, moments)
        exact = lib.search_text("warehouse", limit=1)[0].score
        assert lib.search_text("warehose", limit=1)[0].score < exact
        assert all(not w.startswith("text on screen") for m in lib.search_text("wharehowse", limit=3)
                   for w in m.extra["why"])
