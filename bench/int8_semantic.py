"""int8 EfficientNet-Lite0 (``VIDSEARCH_SEMANTIC_INT8``) against the float model on real frames.

Frames at 1/3 and 2/3 of each shared clip (the ingest's 224-px short side), embedded by the float
ONNX model and by the int8 one made on first use (vidsearch/models/quantise.py; the time to make
it is reported apart); cosine of the features (mean, min), top-1 class agreement, and frames/s of
each in batches of 4, interleaved, best of 3. The CPU's int8 instruction set matters (VNNI or not),
so the machine line names the CPU flags. Output: ``bench/out/int8_semantic.json``.

    .venv/bin/python bench/int8_semantic.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402


def cpu_flags() -> list[str]:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if "vnni" in f or f in ("avx2", "avx512f", "avx512bw"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", default=str(common.DEFAULT_REAL_VIDEOS))
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    import numpy as np

    from vidsearch.media.decode import frame_at
    from vidsearch.media.image import resize_short_side
    from vidsearch.media.probe import probe
    from vidsearch.models.efficientnet import SemanticEmbedder

    frames = []
    for path in common.real_videos(Path(a.videos), required=True):
        try:
            info = probe(str(path))
            for t in (info.duration / 3, 2 * info.duration / 3):
                img = frame_at(str(path), info, t).image
                frames.append(resize_short_side(img, 224))
        except Exception as exc:  # a clip this build cannot decode is left out, and named
            print(f"  {path.name}: skipped ({exc})")
    with tempfile.TemporaryDirectory() as cache:
        flt = SemanticEmbedder(device="cpu", batch_size=4, backend="onnx")
        t0 = time.perf_counter()
        q8 = SemanticEmbedder(device="cpu", batch_size=4, cache_dir=Path(cache), int8=True)
        make_s = time.perf_counter() - t0
        f_flt, l_flt = flt.embed_with_logits(frames)
        f_q8, l_q8 = q8.embed_with_logits(frames)
        cos = (f_flt * f_q8).sum(1)
        rate = {"float": 0.0, "int8": 0.0}
        for _ in range(a.repeats):
            for name, model in (("float", flt), ("int8", q8)):
                t0 = time.perf_counter()
                model.embed(frames)
                rate[name] = max(rate[name], len(frames) / (time.perf_counter() - t0))
    report = {"machine": common.machine(), "cpu_flags": cpu_flags(), "frames": len(frames),
              "cosine_mean": round(float(cos.mean()), 4), "cosine_min": round(float(cos.min()), 4),
              "top1_same": int((l_flt.argmax(1) == l_q8.argmax(1)).sum()),
              "frames_per_s": {k: round(v, 1) for k, v in rate.items()},
              "int8_over_float": round(rate["int8"] / rate["float"], 2), "make_int8_s": round(make_s, 1)}
    print(common.machine_line(report["machine"]), report["cpu_flags"])
    print({k: v for k, v in report.items() if k != "machine"})
    print(f"wrote {common.write_json('int8_semantic', report)}")


if __name__ == "__main__":
    main()
