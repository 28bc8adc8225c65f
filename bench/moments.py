"""Moments users can trust, measured on the real clips: span length, the instant, the floor.

1. Index the real clips except ``HELD_OUT`` (footage never indexed: the negatives) into ``--data``
   (kept and reused when it exists, so the RUN and floor variants below cost no re-index).
2. Queries, as ``bench/image_quality.py`` makes them: stills at 20/50/80 % of each clip with 8 edits;
   regions (the centre half of each still); 3-s clips cut at 30 % (as is, half size, grayscale).
   Positives come from indexed clips, negatives from held-out ones.
3. For each query the library's answer with ``include_weak`` (every candidate, marked):
   positives: right video first, ``|timestamp - truth| <= 1.5 s``, moment length, truth inside the
   moment, the same first moments at limits 3, 10 and 50; negatives: the best score anything got.
4. Calibration: for each kind, the share of negatives under each candidate floor and the share
   of right answers at or above it (``bench/out/moments.json``; the table in docs/moments.md).

Baseline in the same run, on the same queries and stored frames: the previous moment rule (every
hit among the store's nearest ``max(100, 20 * limit)`` frames merged with its neighbours within
2 s, ``merge_hits``), its length and whether it stays the same at limits 3, 10 and 50.

    .venv/bin/python bench/moments.py [--data DIR] [--runs 0.6,0.7,0.8,0.9] [--quick]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from image_quality import EQUIVALENT, POSITIONS, canonical, judge, still, transforms  # noqa: E402

HELD_OUT = ("chaplin.mp4", "fire2.mp4", "02_cups.mp4", "bedroom.mp4", "flipping_a_pancake.mkv", "Megamind.avi")
LIMITS = (3, 10, 50)
FLOORS = [round(0.01 * k, 2) for k in range(10, 71)]
# subjects that no clip shows (MANIFEST.tsv's descriptions): text queries that should find nothing
ABSENT = ("a giraffe", "an elephant", "a snowy mountain", "a sailing boat on the sea", "a horse", "a pizza",
          "a guitar", "a tennis racket", "a zebra", "a lion", "a penguin", "surfing a wave", "a christmas tree",
          "a train at a station", "a violin", "a helicopter", "a shark", "fireworks", "a wedding cake",
          "a snake in the grass")
CLIP_EDITS = {"as_is": None, "half": "scale=2*trunc(iw/4):-2", "gray": "format=gray,format=yuv420p"}


def cut_clip(video: Path, t: float, seconds: float, vf: str | None, out: Path) -> Path:
    cmd = [common.need_ffmpeg(), "-v", "error", "-y", "-i", str(video), "-ss", f"{t:.3f}", "-t", str(seconds),
           "-map", "0:v:0", "-an"]
    if vf:
        cmd += ["-vf", vf]
    subprocess.run(cmd + ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out)], check=True,
                   stdin=subprocess.DEVNULL)
    return out


def rates(pos: list[float], neg: list[float]) -> list[dict]:
    """For each candidate floor: right answers kept (score >= floor), negatives refused (< floor)."""
    return [{"floor": f, "right_kept": round(sum(s >= f for s in pos) / max(1, len(pos)), 4),
             "negatives_refused": round(sum(s < f for s in neg) / max(1, len(neg)), 4)} for f in FLOORS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(common.OUT / "moments-data"))
    ap.add_argument("--videos")
    ap.add_argument("--runs", default="", help="comma-separated RUN values to compare (default: the product's)")
    ap.add_argument("--quick", action="store_true", help="the 50%% frame only")
    ap.add_argument("--only", choices=("image", "region", "clip", "text", "latency"), action="append",
                    help="run only these parts (repeatable)")
    a = ap.parse_args()
    common.check_product_ready()
    import numpy as np
    from PIL import Image

    from vidsearch.config import Settings
    from vidsearch.library import Library
    from vidsearch.search import confidence, moment

    m = common.machine()
    print(common.machine_line(m), flush=True)
    videos = common.real_videos(a.videos, required=True)
    held_in = [v for v in videos if v.name not in HELD_OUT]
    held_out = [v for v in videos if v.name in HELD_OUT]
    positions = (0.5,) if a.quick else POSITIONS
    settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": a.data})
    tf = transforms()
    tmp = Path(tempfile.mkdtemp(prefix="vidsearch-bench-moments-"))
    out: dict = {"machine": m, "held_out": list(HELD_OUT)}
    with Library(settings) as lib:
        t0 = time.perf_counter()
        results = list(lib.ingest(held_in))  # already indexed: skipped quickly
        print(f"index: {sum(r.status in ('indexed', 'skipped') for r in results)}/{len(held_in)} clips "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        names = {r.id: Path(r.path).name for r in lib.videos()}
        durations = {Path(r.path).name: r.duration for r in lib.videos()}

        def stills(clips):
            for v in clips:
                import av

                with av.open(str(v)) as c:
                    dur = durations.get(v.name) or float(c.streams.video[0].duration * c.streams.video[0].time_base
                                                         if c.streams.video[0].duration else c.duration / 1e6)
                for pos in positions:
                    t = round(dur * pos, 3)
                    base = Image.open(still(v, t, tmp / f"{v.name}_{pos}.png")).convert("RGB")
                    for tname, fn in tf.items():
                        yield v.name, t, tname, np.asarray(fn(base))

        want = set(a.only or ("image", "region", "clip", "text", "latency"))
        need_stills = bool(want & {"image", "region", "latency"})
        queries = {"pos": list(stills(held_in)) if need_stills else [],
                   "neg": list(stills(held_out)) if need_stills else []}
        print(f"stills: {len(queries['pos'])} positive, {len(queries['neg'])} negative", flush=True)
        runs = [float(x) for x in a.runs.split(",") if x] or [moment.RUN]
        out["image"] = {}
        for run in runs if "image" in want else []:
            moment.RUN = run
            rows, neg_scores, pos_scores, lat = [], [], [], []
            from vidsearch.media.image import resize_short_side

            period = 1.0 / settings.sample_fps
            for clip, t, tname, arr in queries["pos"]:
                t1 = time.perf_counter()
                ms = lib.search_image(arr, limit=10, include_weak=True, refine=False)
                lat.append((time.perf_counter() - t1) * 1000)
                top = ms[0] if ms else None
                got = names.get(top.video_id) if top else None
                rv, ok, err = judge(clip, t, got, top.timestamp if top else None)
                t_got = canonical(clip, t)[1] - EQUIVALENT.get(got, (got, 0.0))[1] if rv else None
                same = [[(x.video_id, x.start, x.end) for x in lib.search_image(arr, limit=k, refine=False)[:3]]
                        for k in LIMITS]
                vec = lib.encoders.copy.embed([resize_short_side(arr, settings.frame_size)])[0]
                old = [moment.merge_hits(lib.store.search_frames("copy", vec, moment.frames_to_ask(k)),
                                         gap=max(settings.moment_gap, 1.5 * period), sample_period=period)[:3]
                       for k in LIMITS]
                old_top = old[1][0] if old[1] else None
                rows.append({"baseline_length": (old_top.end - old_top.start) if old_top and rv else None,
                             "baseline_same_at_limits": all([(x.video_id, x.start, x.end) for x in o] ==
                                                            [(x.video_id, x.start, x.end) for x in old[0]] for o in old),
                             "clip": clip, "t": t, "edit": tname, "right_video": rv, "ok": ok, "err": err,
                             "score": top.score if top else None, "length": (top.end - top.start) if top else None,
                             # a picture between two samples is known to the sample after it
                             "inside": rv and top.start - 0.5 / settings.sample_fps - 1e-3 <= t_got <= top.end + 1e-3,
                             "same_at_limits": all(s == same[0] for s in same)})
                if rv:
                    pos_scores.append(top.score)
            for clip, t, tname, arr in queries["neg"]:
                ms = lib.search_image(arr, limit=10, include_weak=True, refine=False)
                neg_scores.append(ms[0].score if ms else 0.0)
            edited = [r for r in rows if r["edit"] != "original"]
            lengths = [r["length"] for r in edited if r["right_video"]]
            summary = {
                "run": run, "queries": len(edited),
                "right_video_first": round(sum(r["right_video"] for r in edited) / len(edited), 4),
                "within_1.5s": round(sum(r["ok"] for r in edited) / len(edited), 4),
                "truth_inside_moment": round(sum(bool(r["inside"]) for r in edited) / len(edited), 4),
                "moment_length_s": {"p50": common.percentile(lengths, 50), "p90": common.percentile(lengths, 90),
                                    "max": max(lengths, default=None)},
                "same_moments_at_limits_3_10_50": round(sum(r["same_at_limits"] for r in rows) / len(rows), 4),
                "baseline_moment_length_s": {
                    "p50": common.percentile([r["baseline_length"] for r in edited if r["baseline_length"] is not None], 50),
                    "p90": common.percentile([r["baseline_length"] for r in edited if r["baseline_length"] is not None], 90)},
                "baseline_same_at_limits_3_10_50": round(sum(r["baseline_same_at_limits"] for r in rows) / len(rows), 4),
                "latency_ms_p50": round(common.percentile(lat, 50), 1),
                "calibration": rates(pos_scores, neg_scores),
                "negative_max": round(max(neg_scores, default=0.0), 4),
                "positive_min": round(min(pos_scores, default=0.0), 4),
            }
            out["image"][str(run)] = summary
            print(f"RUN {run}: {summary}", flush=True)

        # the refinement's cost: the same edited stills with and without it, in alternation
        if "latency" in want:
            times: dict[bool, list[float]] = {False: [], True: []}
            sample = [q for q in queries["pos"] if q[2] != "original"][::4]
            for clip, t, tname, arr in sample[:8]:  # warm-up: models, decoders, page cache
                lib.search_image(arr, limit=10, refine=True)
            for k, (clip, t, tname, arr) in enumerate(sample):
                for refine in ((False, True) if k % 2 == 0 else (True, False)):
                    t1 = time.perf_counter()
                    lib.search_image(arr, limit=10, refine=refine)
                    times[refine].append((time.perf_counter() - t1) * 1000)
            out["refine_latency_ms"] = {"queries": len(sample),
                                        "off": {"p50": common.percentile(times[False], 50),
                                                "p95": common.percentile(times[False], 95)},
                                        "on": {"p50": common.percentile(times[True], 50),
                                               "p95": common.percentile(times[True], 95)},
                                        "added_p50": round(common.percentile(times[True], 50)
                                                           - common.percentile(times[False], 50), 1)}
            print(f"refine latency: {out['refine_latency_ms']}", flush=True)

        # regions: the centre half of each still
        moment.RUN = runs[-1] if len(runs) == 1 else moment.RUN
        reg = {"pos": [], "neg": []}
        for kind in ("pos", "neg") if "region" in want else ():
            for clip, t, tname, arr in queries[kind]:
                if tname not in ("original", "jpeg_q30", "grayscale"):
                    continue
                h, w = arr.shape[:2]
                ms = lib.search_image(arr, limit=5, include_weak=True, refine=False,
                                      region=(w // 4, h // 4, w // 2, h // 2))
                top = ms[0] if ms else None
                rv = judge(clip, t, names.get(top.video_id) if top else None, top.timestamp if top else None)[0]
                reg[kind].append(top.score if top and (kind == "neg" or rv) else (0.0 if kind == "neg" else None))
        pos = [s for s in reg["pos"] if s is not None]
        out["region"] = {"queries": len(reg["pos"]), "right_video_first": round(len(pos) / max(1, len(reg["pos"])), 4),
                         "calibration": rates(pos, reg["neg"]), "negative_max": max(reg["neg"], default=0.0),
                         "positive_scores": sorted(round(x, 3) for x in pos),
                         "negative_scores": sorted(round(x, 3) for x in reg["neg"])}
        print(f"region: {out['region']}", flush=True)

        # clips: 3 s cut at 30 %
        cl = {"pos": [], "neg": []}
        for kind, clips in (("pos", held_in), ("neg", held_out)) if "clip" in want else ():
            for v in clips:
                dur = durations.get(v.name) or common.probe_duration(v) or 3.0
                t = round(dur * 0.3, 3)
                for ename, vf in CLIP_EDITS.items():
                    try:
                        q = cut_clip(v, t, min(3.0, max(1.0, dur - t)), vf, tmp / f"{v.stem}_{ename}.mp4")
                        ms = lib.search_clip(q, limit=5, include_weak=True)
                    except Exception as exc:  # a clip ffmpeg cannot cut (too short)
                        print(f"  clip {v.name} {ename}: {exc}", flush=True)
                        continue
                    top = ms[0] if ms else None
                    rv = top is not None and canonical(v.name, 0)[0] == canonical(names.get(top.video_id, ""), 0)[0]
                    cl[kind].append(top.score if top and (kind == "neg" or rv) else (0.0 if kind == "neg" else None))
        pos = [s for s in cl["pos"] if s is not None]
        out["clip"] = {"queries": len(cl["pos"]), "right_video_first": round(len(pos) / max(1, len(cl["pos"])), 4),
                       "calibration": rates(pos, cl["neg"]), "negative_max": max(cl["neg"], default=0.0),
                       "positive_min": min(pos, default=0.0)}
        print(f"clip: {out['clip']}", flush=True)
        # text: the queries of bench/text_queries.tsv whose clips are indexed (positives: the first
        # moment of an expected clip, when it is in the top 5) against absent subjects and the
        # queries whose clips were all held out (negatives: the best score of anything)
        from text import load_queries

        indexed_names = set(names.values())
        pos, neg, r5, r5_floor, absent_empty = [], [], [], [], 0
        floor = confidence.levels("text").floor
        for q in load_queries() if "text" in want else []:
            ms = lib.search_text(q["query"], limit=20, include_weak=True)
            if set(q["expected"]) & indexed_names:
                order = []
                for mm in ms:
                    if names.get(mm.video_id) not in order:
                        order.append(names.get(mm.video_id))
                rank = next((i + 1 for i, v in enumerate(order) if v in q["expected"]), 99)
                first = next((mm for mm in ms if names.get(mm.video_id) in q["expected"]), None)
                r5.append(rank <= 5)
                r5_floor.append(rank <= 5 and first.score >= floor)
                if rank <= 5:
                    pos.append(first.score)
            else:
                neg.append(ms[0].score if ms else 0.0)
        for query in ABSENT if "text" in want else ():
            ms = lib.search_text(query, limit=10, include_weak=True)
            neg.append(ms[0].score if ms else 0.0)
            absent_empty += not any(mm.score >= floor for mm in ms)
        out["text"] = {"positives": len(pos), "negatives": len(neg), "calibration": rates(pos, neg),
                       "r5_indexed_queries": round(sum(r5) / max(1, len(r5)), 3),
                       "r5_with_floor": round(sum(r5_floor) / max(1, len(r5_floor)), 3),
                       "absent_queries_with_nothing_above_floor": f"{absent_empty}/{len(ABSENT)}",
                       "negative_scores": sorted(round(x, 3) for x in neg),
                       "positive_scores": sorted(round(x, 3) for x in pos)}
        print(f"text: {out['text']}", flush=True)
        out["levels"] = {k: vars(v) for k, v in confidence.LEVELS.items()}
    m["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    common.write_json("moments", out, quick=a.quick)


if __name__ == "__main__":
    main()
