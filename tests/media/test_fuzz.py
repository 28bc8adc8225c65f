"""Bad media, fuzzed (issue 7, item 3): every file of a generated corpus (tests/media/corpus.py,
220+ files) gets a frame list or a MediaError naming it, within a time limit, in bounded memory,
with no other exception and no crash; Hypothesis mutates real container bytes for more; a mixed
batch through ``Library.ingest`` indexes its good files and harms nothing already indexed.
"""
from __future__ import annotations

import collections
import json
import random
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, frame_at, make_video
from tests.media.corpus import EXTENSIONS, build_corpus
from vidsearch.media import MediaError, probe, sample_frames

PER_FILE_S = 20.0  # the longest any one file may take (probe + decode), in a decoder
PEAK_MB = 1500  # the checking process's peak memory over the whole corpus (one 15360^2 frame: ~300 MB)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return build_corpus(folder)


def _census(cases) -> dict[str, int]:
    return dict(sorted(collections.Counter(c.kind for c in cases).items()))


def test_the_corpus_is_big_and_covers_every_kind(corpus):
    kinds = _census(corpus)
    assert len(corpus) >= 200, kinds
    for kind in ("zero-byte", "truncated", "header-only", "random-bytes", "wrong-extension", "huge-frame", "one-frame",
                 "no-keyframes", "audio-only", "many-streams", "bit-flips", "splices"):
        assert kinds.get(kind, 0) >= 2, (kind, kinds)
    hour = next(c.path for c in corpus if c.path.name == "hour-one-keyframe.mp4")
    info = probe(hour)
    assert info.duration >= 3599 and info.width == 32


def run_checker(paths: list[Path], decoders: list[str], tmp_path: Path) -> list[dict]:
    """Probe and decode ``paths`` in a child process (tests/media/fuzz_check.py); fail on a crash
    or on any file that gives no answer within PER_FILE_S."""
    listing = tmp_path / "paths.json"
    listing.write_text(json.dumps([str(p) for p in paths]))
    log = open(tmp_path / "stderr.txt", "w+")  # FFmpeg's own complaints: plenty, and never to block on
    child = subprocess.Popen([sys.executable, "-m", "tests.media.fuzz_check", str(listing), *decoders],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
    results, current = [], None
    try:
        while True:
            # the first line waits for the imports too
            ready, _, _ = select.select([child.stdout], [], [], PER_FILE_S if results else 120)
            if not ready:
                pytest.fail(f"no answer within {PER_FILE_S} s for {current and paths[current['start']]} "
                            f"({current and current['decoder']}): a hang")
            line = child.stdout.readline()
            if not line:
                break
            msg = json.loads(line)
            if "start" in msg:
                current = msg
            else:
                results.append(msg)
                current = None
        rc = child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    log.seek(0)
    assert current is None and rc == 0, (
        f"the checking process died (exit {rc}) on {current and paths[current['start']]}: {log.read()[-3000:]}")
    assert len(results) == len(paths) * len(decoders)
    return results


def test_every_file_indexes_or_fails_clearly_in_time(corpus, tmp_path):
    results = run_checker([c.path for c in corpus], ["pyav", "auto"], tmp_path)
    problems, outcome = [], collections.Counter()
    for r in results:
        case = corpus[r["i"]]
        name = f"{case.path.name} ({case.kind}, {r['decoder']})"
        outcome[(case.kind, r["status"])] += 1
        if r["status"] == "exception":
            problems.append(f"{name}: not a MediaError: {r['error']}")
        elif r["status"] == "error":
            reason = r["error"][len(str(case.path)) + 2:]
            if not (r["error"].startswith(f"{case.path}: ") and r["error_path"] == str(case.path) and len(reason) >= 8):
                problems.append(f"{name}: unclear error {r['error']!r}")
            if case.expect == "ok":
                problems.append(f"{name}: a real video was refused: {r['error']}")
        elif r["status"] == "ok":
            if case.expect == "error":
                problems.append(f"{name}: should have been refused, gave {r['frames']} frames")
            if r["frames"] < 1:
                problems.append(f"{name}: 'ok' without a frame")
        if r["seconds"] > PER_FILE_S:
            problems.append(f"{name}: took {r['seconds']} s")
    assert not problems, "\n".join(problems)
    peak = max(r["peak_mb"] for r in results)
    slowest = max(results, key=lambda r: r["seconds"])
    errors = sum(r["status"] == "error" for r in results)
    print(f"\nfuzz corpus: {len(corpus)} files, {_census(corpus)}; {len(results)} checks (pyav + auto), "
          f"{errors} MediaErrors, 0 other exceptions; slowest {slowest['seconds']} s "
          f"({corpus[slowest['i']].path.name}); peak {peak} MB")
    print("outcomes:", dict(sorted(outcome.items())))
    assert peak < PEAK_MB
    # the hour with one keyframe decodes completely: one sample per second
    hour = next(r for r in results if corpus[r["i"]].path.name == "hour-one-keyframe.mp4" and r["decoder"] == "pyav")
    assert hour["frames"] == 3600


def test_a_huge_frame_is_refused_by_its_size(corpus):
    for name in ("huge15360.png", "huge15360-png.mkv"):
        path = next(c.path for c in corpus if c.path.name == name)
        with pytest.raises(MediaError, match=r"frame too large: 15360x15360"):
            probe(path)


# -- Hypothesis: mutations of real container bytes ---------------------------------------------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

MUTATIONS = 80
_seen: list[str] = []


def _mutate(data: bytes, ops: list[tuple]) -> bytes:
    buf = bytearray(data)
    for op, a, b, payload in ops:
        if not buf:
            break
        i = a % len(buf)
        if op == "flip":
            buf[i] ^= 1 << (b % 8)
        elif op == "write":
            buf[i : i + len(payload)] = payload
        elif op == "delete":
            del buf[i : i + 1 + b % 4096]
        elif op == "duplicate":
            buf[i:i] = buf[i : i + 1 + b % 4096]
        elif op == "cut":
            del buf[max(16, i):]
    return bytes(buf)


OPS = st.tuples(st.sampled_from(["flip", "write", "delete", "duplicate", "cut"]), st.integers(0, 2**31),
                st.integers(0, 2**16), st.binary(min_size=1, max_size=64))


def _within(seconds: float, fn, *args):
    """Run ``fn`` in a thread; fail the test when it has not finished in ``seconds``."""
    out: list = []

    def run():
        try:
            out.append(("ok", fn(*args)))
        except BaseException as exc:
            out.append(("raised", exc))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"no answer within {seconds} s: a hang"
    kind, value = out[0]
    if kind == "raised":
        raise value
    return value


def _probe_and_decode(path: Path) -> int:
    info = probe(path)
    return sum(len(c) for c in sample_frames(path, info, fps=1.0, short_side=64, timeout=PER_FILE_S / 2))


@pytest.fixture(scope="module")
def bases(corpus) -> dict[str, bytes]:
    return {c.path.suffix: c.path.read_bytes() for c in corpus if c.kind == "good"}


@settings(max_examples=MUTATIONS, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ext=st.sampled_from(EXTENSIONS), ops=st.lists(OPS, min_size=1, max_size=12))
def test_mutated_containers_index_or_fail_clearly(bases, tmp_path_factory, ext, ops):
    folder = tmp_path_factory.getbasetemp() / "mutations"
    folder.mkdir(exist_ok=True)
    path = folder / f"m{len(_seen):03d}{ext}"
    path.write_bytes(_mutate(bases[ext], ops))
    _seen.append(path.name)
    t0 = time.perf_counter()
    try:
        frames = _within(PER_FILE_S, _probe_and_decode, path)
        assert frames >= 1
    except MediaError as exc:
        assert str(exc).startswith(f"{path}: ") and exc.path == str(path) and len(exc.reason) >= 8, str(exc)
    assert time.perf_counter() - t0 < PER_FILE_S


def test_hypothesis_made_its_files():
    """(Runs after the property test in file order.) Hypothesis really generated the mutations."""
    if not _seen:
        pytest.skip("the mutation test did not run in this session")
    assert len(set(_seen)) >= MUTATIONS * 0.9, len(set(_seen))


# -- a mixed batch through Library.ingest ----------------------------------------------------
BATCH_KINDS = {"zero-byte": 3, "truncated": 7, "header-only": 3, "random-bytes": 3, "wrong-extension": 3,
               "huge-frame": 3, "one-frame": 2, "audio-only": 2, "many-streams": 2,
               "bit-flips": 2, "not-a-file": 2}


def _batch(corpus) -> list:
    rng = random.Random(7)
    picked = []
    for kind, n in BATCH_KINDS.items():
        pool = [c for c in corpus if c.kind == kind and c.path.name != "hour-one-keyframe.mp4" and not c.path.is_dir()]
        picked += rng.sample(pool, min(n, len(pool)))
    return picked


def test_a_mixed_batch_indexes_the_good_files_and_harms_nothing_indexed(corpus, encoders, tmp_path):
    from vidsearch.config import Settings
    from vidsearch.library import Library

    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_SEMANTIC": "0",
                                  "VIDSEARCH_OCR": "0", "VIDSEARCH_MIN_FREE_MB": "0",
                                  "VIDSEARCH_DECODE_TIMEOUT": str(PER_FILE_S / 2)})
    earlier = make_video(tmp_path / "earlier.mp4", source="testsrc2", duration=6)
    query = np.asarray(Image.open(frame_at(earlier, 3, tmp_path / "q.png")).convert("RGB"))
    bad = _batch(corpus)
    good = [tmp_path / "good1.mp4", tmp_path / "good2.webm"]
    make_video(good[0], source="smptebars", duration=3)
    make_video(good[1], source="rgbtestsrc", duration=3, codec="libvpx", extra_output=["-pix_fmt", "yuv420p"])
    batch = bad[: len(bad) // 2] + [good[0]] + bad[len(bad) // 2:] + [good[1]]
    assert len(bad) >= 30
    with Library(settings, encoders=encoders) as lib:
        first = list(lib.ingest([earlier]))[0]
        assert first.status == "indexed"
        def answers() -> list[dict]:
            return [m.to_dict() for m in lib.search_image(query, limit=50) if m.video_id == first.video_id]

        before = answers()
        frames_before = lib.store.count_frames(first.video_id)
        assert before and lib.search_image(query)[0].video_id == first.video_id

        results, times = [], []
        paths = [c.path if hasattr(c, "path") else c for c in batch]  # corpus cases, and the two good files
        it = lib.ingest(paths)
        while True:
            t0 = time.perf_counter()
            try:
                r = next(it)
            except StopIteration:
                break
            times.append(time.perf_counter() - t0)
            results.append(r)
        assert len(results) == len(paths)
        by_path = {r.path: r for r in results}
        for p in good:
            assert by_path[str(p)].status == "indexed", by_path[str(p)].error
        expect = {str(c.path.absolute()): c.expect for c in bad}
        for r in results:
            if r.status == "failed":
                assert r.error.startswith(f"{r.path}: ") and "internal error" not in r.error, r.error
                assert expect.get(r.path) != "ok", r.error
                if r.video_id:
                    assert lib.store.count_frames(r.video_id) == 0  # nothing of a failed file stays in the store
                    assert lib.video(r.video_id).status == "failed"
            else:
                assert r.status == "indexed" and expect.get(r.path, "ok") != "error", r
        assert max(times) < PER_FILE_S, max(times)
        # what was indexed before the batch answers exactly as before
        assert lib.store.count_frames(first.video_id) == frames_before
        assert answers() == before
        assert lib.search_image(query)[0].video_id == first.video_id
        assert lib.video(first.video_id).status == "indexed"
        failed = sum(r.status == "failed" for r in results)
        print(f"\nLibrary.ingest batch: {len(results)} files ({len(bad)} bad + 2 good), {failed} failed with "
              f"a MediaError, {len(results) - failed} indexed; slowest {max(times):.2f} s")
