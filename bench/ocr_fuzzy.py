"""On-screen text search under OCR errors: exact word matching against one-edit (fuzzy) matching.

    .venv/bin/python bench/ocr_fuzzy.py [--words N] [--keep DIR]

A test video is made with ffmpeg: one 2-s scene per sign word ("WAREHOUSE", "PHARMACY", ...), each
drawn small (font 10-16 px on a 320x240 picture, i.e. 7-11 px in the 224-px frames that OCR reads),
in grey, white, yellow or black on a dark ground, some with sensor noise or a slight blur on top, so that Tesseract reads some
words right, some with a letter wrong and some not at all (as with real signs and captions). The
video is ingested once with the default settings. Then every shown word is searched
(``search_text(word)``) twice on the same store: with exact word matching (``FUZZY_MIN`` set out of
reach: the baseline) and with the default one-edit matching. Reported per mode:

- **found@1 / found@5**: the word's own scene is the first / among the first five moments, and the
  moment's ``why`` has on-screen text (a moment found by the concept channel alone does not count);
- **false text matches**: for as many sign words that are NOT shown (controls), how many answers
  have a moment with on-screen text evidence (there is none to find);
- the same found@1 / found@5 for **queries with a typo** (each shown word with one edit, as users
  mistype: two middle letters swapped, a letter dropped or doubled);

and how Tesseract read the shown words (exactly, one edit away, otherwise). Output:
``bench/out/ocr_fuzzy.json``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, machine_line, need_ffmpeg, write_json  # noqa: E402
from text import EXACT_WORDS_ONLY, search_constants  # noqa: E402

sys.path.insert(0, str(REPO))

SHOWN = """warehouse emergency entrance parking station platform delivery reception security loading pharmacy
hospital restaurant bakery garage office private caution danger police market library museum theatre
stadium airport terminal departure arrivals welcome service maintenance elevator stairway basement
kitchen laundry storage factory customs""".split()
CONTROLS = """bathroom cashier checkout bicycle hotel ticket visitor fitness chemist dentist gallery harbour
bridge tunnel school college church temple cinema casino garden florist butcher barber printer
studio repair rental courier archive records dispatch boarding transit highway shelter""".split()
SCENE = 2.0
CRF = 28  # H.264 quality of the test video (higher: more artefacts)
STYLES = [  # (font size, colour, ground: None, "noise" or "blur"): from easy to hard
    (16, "white", None), (12, "white", None), (11, "yellow", None), (10, "white", None),
    (11, "0xa0a0a0", None), (12, "white", "noise"), (11, "black", None), (12, "white", "blur"),
    (10, "0xc8c8c8", "noise"), (13, "0x8c8c8c", "blur"),
]


def make_video(path: Path, words: list[str]) -> None:
    """One scene per word: a grey ground (noisy where the style says so), the word drawn in upper case."""
    chains = []
    for i, word in enumerate(words):
        size, colour, ground = STYLES[i % len(STYLES)]
        a, b = i * SCENE, (i + 1) * SCENE
        x, y = 20 + (i * 37) % 140, 40 + (i * 53) % 150
        chains.append(f"drawtext=text='{word.upper()}':fontsize={size}:fontcolor={colour}:x={x}:y={y}"
                      f":enable='between(t,{a},{b - 0.001})'")
    def when(kind: str) -> str:
        return "+".join(f"between(t,{i * SCENE},{(i + 1) * SCENE - 0.001})" for i in range(len(words))
                        if STYLES[i % len(STYLES)][2] == kind) or "0"

    graph = (",".join(chains) + f",noise=alls=24:allf=t:enable='{when('noise')}'"
             f",gblur=sigma=0.8:enable='{when('blur')}',format=yuv420p")
    cmd = [need_ffmpeg(), "-v", "error", "-y", "-f", "lavfi",
           "-i", f"color=c=0x404850:size=320x240:rate=25:duration={len(words) * SCENE}",
           "-vf", graph, "-c:v", "libx264", "-preset", "veryfast", "-crf", str(CRF), str(path)]
    subprocess.run(cmd, check=True)


def typo(word: str, i: int) -> str:
    """A one-edit misspelling, as a user types it: two middle letters swapped, a letter dropped or
    doubled, in turn."""
    k = len(word) // 2
    kind = i % 3
    if kind == 0:
        return word[:k - 1] + word[k] + word[k - 1] + word[k + 1:]
    if kind == 1:
        return word[:k] + word[k + 1:]
    return word[:k] + word[k] + word[k:]


def evaluate(lib, words: list[str], controls: list[str], queries: list[str] | None = None) -> dict:
    """``queries[i]`` (default the word itself) is searched for ``words[i]``'s scene."""
    found1 = found5 = 0
    per_word = {}
    for i, word in enumerate(words):
        moments = lib.search_text((queries or words)[i], limit=5)
        ok = [m for m in moments
              if i * SCENE - 0.5 <= m.timestamp < (i + 1) * SCENE and any(w.startswith("text on screen") for w in m.extra["why"])]
        rank = next((r for r, m in enumerate(moments, 1) if m in ok), None)
        found1 += rank == 1
        found5 += rank is not None
        per_word[word] = rank
    false = sum(any(any(w.startswith("text on screen") for w in m.extra["why"]) for m in lib.search_text(c, limit=5))
                for c in controls)
    return {"found@1": found1 / len(words), "found@5": found5 / len(words), "false_text_matches": false,
            "controls": len(controls), "ranks": per_word}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=len(SHOWN), help=f"shown words (at most {len(SHOWN)})")
    ap.add_argument("--keep", type=Path, help="make the video and the store here (default: a temporary folder)")
    args = ap.parse_args()
    from vidsearch.config import Settings
    from vidsearch.library import Library
    from vidsearch.search import text as text_search

    words = SHOWN[: args.words]
    controls = CONTROLS[: len(words)]
    with tempfile.TemporaryDirectory(prefix="vidsearch-ocr-fuzzy-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / "signs.mp4"
        make_video(video, words)
        settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": str(folder / "data")})
        with Library(settings) as lib:
            res = lib.runner.ingest_file(video)
            if res.status != "indexed":
                sys.exit(f"ingest failed: {res.error}")
            read = " ".join(h.extra.get("text", "") for h in lib.store.search_text(
                sorted({w for word in words for w in [word, *text_search.near_words(word)]}), 10_000))
            tokens = set(text_search.tokens(read))
            reading = {"exact": sum(w in tokens for w in words),
                       "one edit away": sum(w not in tokens and any(text_search.one_edit(w, t) for t in tokens) for w in words)}
            reading["not read"] = len(words) - reading["exact"] - reading["one edit away"]
            typos = [typo(w, i) for i, w in enumerate(words)]
            with search_constants(**EXACT_WORDS_ONLY):  # the baseline
                exact = evaluate(lib, words, controls)
                exact_typos = evaluate(lib, words, [], typos)
            fuzzy = evaluate(lib, words, controls)
            fuzzy_typos = evaluate(lib, words, [], typos)
    m = machine()
    out = {"machine": m, "words": len(words), "scene_s": SCENE, "tesseract_read": reading,
           "crf": CRF, "exact": exact, "fuzzy": fuzzy, "typos": typos, "exact_typos": exact_typos,
           "fuzzy_typos": fuzzy_typos, "fuzzy_min": text_search.FUZZY_MIN, "fuzzy_weight": text_search.FUZZY_WEIGHT}
    print(machine_line(m))
    print(f"{len(words)} sign words shown; Tesseract read {reading['exact']} exactly, {reading['one edit away']} "
          f"one edit away, {reading['not read']} otherwise")
    for name, r, t in (("exact matching (baseline)", exact, exact_typos), ("one-edit matching", fuzzy, fuzzy_typos)):
        print(f"  {name:26s} found@1 {r['found@1']:.2f}  found@5 {r['found@5']:.2f}  "
              f"false text matches {r['false_text_matches']}/{r['controls']}  |  queries with a typo: "
              f"found@1 {t['found@1']:.2f}  found@5 {t['found@5']:.2f}")
    print("->", write_json("ocr_fuzzy", out))


if __name__ == "__main__":
    main()
