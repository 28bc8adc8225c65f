"""Child process of the fuzz test: probe and decode each file named in a JSON list, one JSON line
per step on stdout, so that the parent sees a crash (which file was in flight), a hang (no line
within its deadline) and the peak memory, without risking its own process.

    python -m tests.media.fuzz_check cases.json pyav auto

Lines: ``{"start": i, "decoder": d}`` before a file, then ``{"i", "decoder", "status": "ok"|"error"|
"exception", "frames", "error", "seconds", "peak_mb"}``.
"""
from __future__ import annotations

import json
import resource
import sys
import time
import traceback


def check(path: str, decoder: str) -> dict:
    from vidsearch.media import MediaError, probe, sample_frames

    t0 = time.perf_counter()
    out: dict = {"frames": 0}
    try:
        info = probe(path)
        for chunk in sample_frames(path, info, fps=1.0, short_side=64, chunk=32, timeout=20, decoder=decoder):
            out["frames"] += len(chunk)
        out["status"] = "ok"
    except MediaError as exc:
        out.update(status="error", error=str(exc), error_path=exc.path)
    except Exception:  # anything else escaping vidsearch.media is a bug
        out.update(status="exception", error=traceback.format_exc()[-2000:])
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return out


def main(argv: list[str]) -> None:
    import logging

    logging.disable(logging.WARNING)  # damaged files log warnings by design; stdout carries the results
    paths = json.loads(open(argv[0]).read())
    for i, path in enumerate(paths):
        for decoder in argv[1:]:
            print(json.dumps({"start": i, "decoder": decoder}), flush=True)
            print(json.dumps({"i": i, "decoder": decoder, **check(path, decoder)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
