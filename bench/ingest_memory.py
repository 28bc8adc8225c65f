"""Where an ingest's peak memory goes: each part alone, in its own fresh process.

``bench/ingest.py`` measures the peak RSS of whole ingests. This script splits it, for one video
(default: the busy 10-min 720p30 video of ``bench/common.py``), into:

* ``baseline``: Python with ``vidsearch.library`` imported and a ``Library`` opened, no model run;
* ``models``: the same plus both encoders loaded and run once on two frames;
* ``embed``: the same plus ``--batches`` batches of 32 random 224x398 frames through ``Encoders.embed``
  (the 16:9 ingest size; every sample of busy footage is a keyframe, so ingest embeds such batches);
* ``decode``: ``vidsearch.media.decode.sample_frames`` over the whole video with the ingest settings
  (1 frame/s, 224 px short side, chunks of 32, the configured decoder), frames dropped as they
  arrive, no models;
* ``ingest``: the whole ingest (``Library.ingest``), as in ``bench/ingest.py``.

Each figure is the child's own ``ru_maxrss`` (kernel-kept peak, all threads).

    .venv/bin/python bench/ingest_memory.py            # busy 10-min video, 20 batches
    .venv/bin/python bench/ingest_memory.py --quick    # busy 15-s video, 3 batches
    .venv/bin/python bench/ingest_memory.py --video FILE

Output: ``bench/out/ingest_memory.json`` (``ingest_memory.quick.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PARTS = ("baseline", "models", "embed", "decode", "ingest")


def child(part: str, video: str, batches: int, out_json: str) -> None:
    sys.path.insert(0, str(common.REPO))
    import numpy as np

    from vidsearch.config import Settings
    from vidsearch.library import Library

    rep: dict = {"part": part}
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vidsearch-bench-mem-") as tmp:
        settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": tmp})
        if part == "decode":
            from vidsearch.media import probe, sample_frames

            info = probe(video)
            n = 0
            kw = {"decoder": settings.decoder} if hasattr(settings, "decoder") else {}  # as the runner calls it
            for chunk in sample_frames(video, info, fps=settings.sample_fps, short_side=settings.frame_size,
                                       chunk=settings.decode_chunk, timeout=settings.decode_timeout, **kw):
                n += len(chunk)
            rep["frames"] = n
        else:
            with Library(settings) as lib:
                if part in ("models", "embed", "ingest"):
                    lib.encoders.embed([np.zeros((224, 398, 3), np.uint8)] * 2)
                if part == "embed":
                    rng = np.random.default_rng(0)
                    for _ in range(batches):
                        lib.encoders.embed([rng.integers(0, 255, (224, 398, 3), dtype=np.uint8) for _ in range(32)])
                    rep["frames"] = 32 * batches
                if part == "ingest":
                    (r,) = list(lib.ingest([video]))
                    rep["status"], rep["keyframes"] = r.status, r.keyframes
    rep["seconds"] = round(time.perf_counter() - t, 1)
    rep["peak_rss_mib"] = common.mib(common.peak_rss_self())
    Path(out_json).write_text(json.dumps(rep))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--video", help="video to decode/ingest (default: the busy 10-min video)")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        part, video, batches, out_json = a.child
        child(part, video, int(batches), out_json)
        return
    common.check_product_ready()
    m = common.machine()
    print(common.machine_line(m), flush=True)
    video = Path(a.video) if a.video else common.busy_video(0.25 if a.quick else 10)
    batches = 3 if a.quick else a.batches
    parts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for part in PARTS:
            out = Path(tmp) / f"{part}.json"
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", part, str(video), str(batches),
                            str(out)], cwd=common.REPO, check=True)
            parts[part] = json.loads(out.read_text())
            print(f"  {part:9s} peak RSS {parts[part]['peak_rss_mib']:7.1f} MiB  ({parts[part]['seconds']} s)", flush=True)
    m["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    common.write_json("ingest_memory", {"machine": m, "video": str(video), "batches_of_32": batches, "parts": parts},
                      quick=a.quick)


if __name__ == "__main__":
    main()
