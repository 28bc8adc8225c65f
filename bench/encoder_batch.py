"""Encoder throughput by batch size, on this machine's device: what VIDSEARCH_BATCH_SIZE=auto picks.

Each encoder (SSCD copy descriptor, EfficientNet semantic embedding) embeds the same 96 frames of
224x398 (a 16:9 frame at the ingest size) in batches of each size, the sizes interleaved and
repeated, best of the repeats; frames/s and the ratio to the batch that ``auto`` picks here. A CNN's
cost does not depend on the picture, so the frames are random. Needs only the models' packages
(no decoder, no store), so it also runs on a bare GPU machine.

    .venv/bin/python bench/encoder_batch.py                        # both encoders, auto device
    python bench/encoder_batch.py --encoders semantic --device cuda --sizes 4 8 32 64
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoders", nargs="+", default=["copy", "semantic"], choices=["copy", "semantic"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sizes", nargs="+", type=int, default=[1, 2, 4, 8, 32])
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", help="write the JSON report here too")
    a = ap.parse_args()

    import numpy as np

    from vidsearch.config import Settings
    from vidsearch.models.device import batch_for, pick_device

    device = pick_device(a.device)
    auto = batch_for(Settings(data_dir=Path(".")), device)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (224, 398, 3), dtype=np.uint8) for _ in range(a.frames)]
    report = {"device": device, "auto_batch": auto, "frames": a.frames, "encoders": {}}
    if device == "cuda":
        import torch

        report["gpu"] = torch.cuda.get_device_name(0)
    for name in a.encoders:
        makers = {size: _maker(name, device, size) for size in a.sizes}
        for enc in makers.values():
            enc.embed(frames[:8])  # first runs are slow (graph optimisation, CUDA kernels)
        best = {size: float("inf") for size in a.sizes}
        for _ in range(a.repeats):
            for size, enc in makers.items():
                t0 = time.perf_counter()
                enc.embed(frames)
                best[size] = min(best[size], time.perf_counter() - t0)
        rates = {size: a.frames / s for size, s in best.items()}
        ref = rates.get(auto)
        report["encoders"][name] = {
            "backend": getattr(next(iter(makers.values())), "backend", "onnx"),
            "frames_per_s": {str(k): round(v, 1) for k, v in rates.items()},
            "vs_auto": {str(k): round(v / ref, 2) for k, v in rates.items()} if ref else None,
        }
    text = json.dumps(report, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


def _maker(name: str, device: str, size: int):
    if name == "copy":
        from vidsearch.models.sscd import CopyDescriptor

        return CopyDescriptor("distilled", device=device, batch_size=size)
    from vidsearch.models.efficientnet import SemanticEmbedder

    return SemanticEmbedder(device=device, batch_size=size)


if __name__ == "__main__":
    main()
