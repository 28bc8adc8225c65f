"""Text on screen: the two OCR engines of vidsearch on the same frames and text boxes of the real
clips, and RapidOCR's own text detector for comparison.

    .venv/bin/pip install rapidocr==3.10.0      # the PP-OCR weights (vidsearch[ppocr])
    .venv/bin/python bench/ocr_engines.py [--full] [--videos DIR]

Every clip is sampled as ingestion samples it (``VIDSEARCH_FRAME_SIZE``, ``VIDSEARCH_DECODER``,
1 frame/s, and the larger copy of ``VIDSEARCH_OCR_SIZE`` when set, PyAV only);
:class:`~vidsearch.models.ocr.OcrGate` picks the frames to read and their text boxes. Then, on
exactly those boxes (taken from the larger copy when there is one):

- **tesseract**: :class:`~vidsearch.models.ocr.TesseractReader` (the default engine and the
  baseline; CPU time of its child processes);
- **ppocr**: :class:`~vidsearch.models.ppocr.PPOCRReader` (``VIDSEARCH_OCR_ENGINE=ppocr``: the
  PP-OCRv6 recogniser on each box, one ONNX Runtime thread; CPU time of this process);
- **rapidocr-full** (``--full``): RapidOCR's own detector and recogniser on the whole frame
  (or the larger copy), ignoring our boxes: it finds text that our box detector misses, at about
  ten times the cost; words kept at confidence >= 0.8.

Reported: frames read, CPU seconds per engine and the ratio to Tesseract, and, for each
on-screen-text query of ``bench/text_queries.tsv``, which of its words each engine read in an
expected clip, exactly or one edit away (what the text channel of the search matches). Output:
``bench/out/ocr_engines.json``.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, machine_line, real_videos, write_json  # noqa: E402
from text import load_queries  # noqa: E402

sys.path.insert(0, str(REPO))

MIN_CONF = 0.8


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _rapid(**params):
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error", **params})
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine


def _words(result) -> list[str]:
    from vidsearch.search.text import FUZZY_MIN, one_edit, tokens

    return [w for txt, conf in zip(result.txts or [], result.scores or []) if conf >= MIN_CONF for w in tokens(txt)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", help="folder of real clips (default ../shared/testvideos)")
    ap.add_argument("--full", action="store_true", help="also RapidOCR's own detector on whole frames")
    args = ap.parse_args()
    try:
        import rapidocr  # noqa: F401
    except ImportError:
        sys.exit("this benchmark needs RapidOCR: .venv/bin/pip install rapidocr==3.10.0")
    from vidsearch.config import Settings
    from vidsearch.media import probe, sample_frames
    from vidsearch.models.ocr import OcrGate, TesseractReader
    from vidsearch.models.ppocr import PPOCRReader
    from vidsearch.search.text import FUZZY_MIN, one_edit, tokens

    settings = Settings.from_env(os.environ)
    tess = TesseractReader()
    one_thread = {"EngineConfig.onnxruntime.intra_op_num_threads": 1,
                  "EngineConfig.onnxruntime.inter_op_num_threads": 1}
    ppocr = PPOCRReader()
    full = _rapid(**one_thread) if args.full else None
    engines = ["tesseract", "ppocr"] + (["rapidocr-full"] if full else [])
    cpu = dict.fromkeys(engines, 0.0)
    read: dict[str, dict[str, set[str]]] = {e: {} for e in engines}
    n_frames = 0
    files = real_videos(args.videos, required=True)
    for path in files:
        info = probe(str(path))
        gate = OcrGate()
        for chunk in sample_frames(str(path), info, fps=settings.sample_fps, short_side=settings.frame_size,
                                   decoder=settings.decoder, large_side=settings.ocr_size):
            images = [f.image for f in chunk]
            large = [f.large for f in chunk]
            chosen = gate.select(images, [f.timestamp for f in chunk])
            if not chosen:
                continue
            n_frames += len(chosen)
            t = _children_cpu()
            texts = tess.read([images[i] for i, _ in chosen], [boxes for _, boxes in chosen],
                              [large[i] for i, _ in chosen])
            cpu["tesseract"] += _children_cpu() - t
            read["tesseract"].setdefault(path.name, set()).update(w for txt in texts for w in tokens(txt))
            t = time.process_time()
            texts = ppocr.read([images[i] for i, _ in chosen], [boxes for _, boxes in chosen],
                               [large[i] for i, _ in chosen])
            cpu["ppocr"] += time.process_time() - t
            read["ppocr"].setdefault(path.name, set()).update(w for txt in texts for w in tokens(txt))
            if full is not None:
                for i, _ in chosen:
                    img = large[i] if large[i] is not None else images[i]
                    t = time.process_time()
                    read["rapidocr-full"].setdefault(path.name, set()).update(_words(full(img, use_cls=False)))
                    cpu["rapidocr-full"] += time.process_time() - t
        print(f"{path.name}: " + " | ".join(f"{e} {sorted(read[e].get(path.name, ()))[:12]}" for e in engines),
              flush=True)
    queries = []
    for q in load_queries():
        if q["kind"] != "text":
            continue
        words = [w for w in tokens(q["query"])]
        found = {e: sorted({w if w in seen else f"{w}~{next(t for t in seen if one_edit(w, t))}"
                            for name in q["expected"] for seen in [read[e].get(name, set())] for w in words
                            if w in seen or (len(w) >= FUZZY_MIN and any(one_edit(w, t) for t in seen))})
                 for e in engines}
        queries.append({"query": q["query"], "words": words, "read": found})
    m = machine()
    out = {"machine": m, "frames_read": n_frames, "videos": len(files), "sample_fps": settings.sample_fps,
           "frame_size": settings.frame_size, "ocr_size": settings.ocr_size, "decoder": settings.decoder, "min_conf_ppocr": ppocr.min_conf, "min_conf_rapidocr_full": MIN_CONF,
           "cpu_s": {e: round(v, 1) for e, v in cpu.items()},
           "cpu_ratio_to_tesseract": {e: round(v / max(cpu["tesseract"], 1e-9), 2) for e, v in cpu.items()},
           "text_queries": queries}
    print(machine_line(m))
    print(f"frames {settings.frame_size} px, larger copy for OCR {settings.ocr_size or 'none'}")
    print(f"{n_frames} frames read in {len(files)} clips; CPU s: "
          + ", ".join(f"{e} {cpu[e]:.1f} ({out['cpu_ratio_to_tesseract'][e]:.2f}x)" for e in engines))
    for q in queries:
        print(f"  {q['query']!r}: " + "; ".join(f"{e} {q['read'][e] or '-'}" for e in engines))
    print("->", write_json(f"ocr_engines{'.' + str(settings.ocr_size) if settings.ocr_size else ''}", out))


if __name__ == "__main__":
    main()
