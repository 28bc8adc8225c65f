"""Clip search and dedup: recall, precision and span IoU on transformed cuts of the real clips,
against a pHash frame-voting baseline, and the latency of a 10-s clip query at 100k stored frames.

The query set (reproducible: fixed clip lists, ``--seed``, cuts cached in ``bench/out/dedup/cuts``):

* the real clips in ``../shared/testvideos`` are split into INDEXED (ingested) and HELD_OUT
  (never ingested). Held out on purpose: hard look-alikes of indexed clips (``fire2.mp4``, another
  dog clip than ``01_dog.mp4``; ``demo_skeleton.mp4``, the same NTU RGB+D room and camera as
  ``S001C001P001R001A001_rgb.avi``) and the known copies, which are queries;
* positives: ``--cuts`` cuts (3-8 s, random start) of every indexed clip under every
  transformation of TRANSFORMS (low bitrate, 240p, 70% crop, letterbox, pillarbox, grayscale,
  brightness/contrast, caption bar, logo, speed 0.8x and 1.25x, 15 fps, partial overlap with
  held-out footage before or after), plus the three known real copies (part_0 -> test.mp4 0-1.067 s,
  example2 -> big_buck_bunny 5-7 s, cockatoo_yuv420 -> cockatoo 0-14 s);
* negatives: the same cuts and transformations of the held-out clips, and the held-out clips whole.

Scoring, per query (what ``vidsearch dedup --clip`` answers):

* a reported match is correct when it names the true video and its reference span overlaps the
  truth; recall = positives with a correct match / positives; precision = correct matches /
  all matches (negatives included);
* located-span quality: the reference-span IoU of the best correct match (0 when missed),
  ``iou>=0.5`` is the share of positives at 0.5 or more; query-span IoU likewise.

The threshold: ``--threshold`` (default: the setting, VIDSEARCH_DEDUP_THRESHOLD). ``--calibrate``
also applies the calibration rule (the lowest 0.01 step above every look-alike score: spans in
videos that do not hold the footage, never-indexed queries included, and ``dedup --all`` pairs
among the indexed clips, which share no footage), overall and with 2-fold cross-validation by
source clip; see docs/dedup.md.

pHash baseline (same query set, same cuts): 64-bit pHash of every frame sampled at 1 frame/s of
the indexed videos and at ``clip_fps`` (4 frames/s) of the query; flat frames (pixel std < 4) skipped; a
query frame votes for a video when a frame of it is within Hamming distance ``--phash-distance``
(10); score = voting query frames / informative query frames; spans: the first to last voting
query frame, and the matched reference frames' range.

    .venv/bin/python bench/dedup.py --calibrate         # everything (8 min on 2 quiet cores, cuts cached)
    .venv/bin/python bench/dedup.py --quick             # 1 cut per clip, 6 transforms, no latency
    .venv/bin/python bench/dedup.py --latency-only      # the 100k-frame latency alone

Latency: a 10-s 720p clip (``dedup_clip`` and ``search_clip``) with the clips indexed and the
store padded to ``--latency-frames`` (100k) with synthetic videos (see :func:`latency`).

Output: ``bench/out/dedup.json`` (``dedup.quick.json``); per-query rows in ``bench/out/dedup/queries.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

WORK = common.OUT / "dedup"
CUTS = WORK / "cuts"

HELD_OUT = ["fire2.mp4", "demo_skeleton.mp4", "04_coffee.mp4", "bedroom.mp4", "chaplin.mp4",
            "flipping_a_pancake.mkv", "test.avi", "video_with_failing_audio.mp4"]
KNOWN_COPIES = [("part_0.mp4", "test.mp4", 0.0, 1.067), ("example2.mp4", "big_buck_bunny_0_30.webm", 5.0, 7.0),
                ("cockatoo_yuv420.mp4", "cockatoo.mp4", 0.0, 14.0)]
NOT_INDEXED = set(HELD_OUT) | {q for q, _, _, _ in KNOWN_COPIES}
FILLERS = ["bedroom.mp4", "chaplin.mp4", "04_coffee.mp4"]  # held-out footage for partial overlaps

CAPTION = ("drawbox=x=0:y=ih*0.78:w=iw:h=ih*0.22:color=black@0.75:t=fill,"
           "drawtext=text='BREAKING NEWS 24/7':x=w*0.04:y=h*0.84:fontsize=h*0.08:fontcolor=white")
LOGO = "drawtext=text='TV5':x=w*0.04:y=h*0.05:fontsize=h*0.14:fontcolor=yellow:box=1:boxcolor=red@0.85:boxborderw=8"
# name -> (video filter after the cut, encoder arguments)
TRANSFORMS: dict[str, tuple[str | None, list[str]]] = {
    "lowbitrate": (None, ["-b:v", "120k", "-maxrate", "150k", "-bufsize", "300k"]),
    "240p": ("scale=-2:240", []),
    "crop70": ("crop=trunc(iw*0.7/2)*2:trunc(ih*0.7/2)*2", []),
    "letterbox": ("pad=iw:trunc(ih*1.4/2)*2:0:(oh-ih)/2:black", []),
    "pillarbox": ("pad=trunc(iw*1.4/2)*2:ih:(ow-iw)/2:0:black", []),
    "gray": ("format=gray", []),
    "eq": ("eq=brightness=0.12:contrast=1.35:saturation=1.3", []),
    "caption": (CAPTION, []),
    "logo": (LOGO, []),
    "speed0.8": ("setpts=PTS/0.8", []),
    "speed1.25": ("setpts=PTS/1.25", []),
    "fps15": ("fps=15", []),
    "partial": (None, []),  # held-out footage before (even cuts) or after (odd cuts) the copied part
}
QUICK_TRANSFORMS = ["lowbitrate", "crop70", "gray", "caption", "speed1.25", "partial"]
PARTIAL_FILL = 2.5  # seconds of held-out footage in a partial-overlap query


@dataclass
class Query:
    qid: str
    path: str
    source: str  # clip the footage comes from
    transform: str
    positive: bool
    ref: str | None = None  # indexed clip that holds the footage
    ref_start: float = 0.0
    ref_end: float = 0.0
    query_start: float = 0.0
    query_end: float = 0.0


@dataclass
class Found:
    video: str  # clip file name
    ref_start: float
    ref_end: float
    query_start: float
    query_end: float
    score: float
    extra: dict = field(default_factory=dict)


# -- query set ------------------------------------------------------------------------------------
def _ffmpeg(args: list[str], out: Path) -> Path:
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    subprocess.run([common.need_ffmpeg(), "-v", "error", "-y", *args, str(tmp)], check=True)
    tmp.rename(out)
    return out


X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-an"]


def make_cuts(src: Path, start: float, dur: float, outs: dict[str, Path]) -> None:
    """One cut of ``src`` under several transformations (not ``partial``), decoding it once."""
    todo = {t: o for t, o in outs.items() if not o.exists()}
    if not todo:
        return
    n = len(todo)
    graph = f"[0:v]trim=start={start:.3f}:duration={dur:.3f},setpts=PTS-STARTPTS,split={n}" + "".join(
        f"[s{k}]" for k in range(n))
    args = ["-i", str(src)]
    tmps = []
    for k, (t, out) in enumerate(todo.items()):
        vf, enc = TRANSFORMS[t]
        graph += f";[s{k}]" + (f"{vf}," if vf else "") + f"format=yuv420p[o{k}]"
        tmp = out.with_name(out.stem + ".part" + out.suffix)
        tmps.append((tmp, out))
    args += ["-filter_complex", graph]
    for k, (t, out) in enumerate(todo.items()):
        args += ["-map", f"[o{k}]", *X264, *(TRANSFORMS[t][1] or ["-crf", "23"]), str(tmps[k][0])]
    CUTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([common.need_ffmpeg(), "-v", "error", "-y", *args], check=True)
    for tmp, out in tmps:
        tmp.rename(out)


def make_partial(src: Path, start: float, dur: float, out: Path, *, filler: Path, before: bool) -> Path:
    cut = f"[0:v]trim=start={start:.3f}:duration={dur:.3f},setpts=PTS-STARTPTS"
    norm = "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25"
    fill = f"[1:v]trim=start=0.5:duration={PARTIAL_FILL},setpts=PTS-STARTPTS,{norm}[f]"
    graph = f"{cut},{norm}[c];{fill};" + ("[f][c]" if before else "[c][f]") + "concat=n=2:v=1:a=0,format=yuv420p[out]"
    return _ffmpeg(["-i", str(src), "-i", str(filler), "-filter_complex", graph, "-map", "[out]", *X264,
                    "-crf", "23"], out)


def build_queries(videos: dict[str, Path], *, cuts: int, transforms: list[str], seed: int, log=print) -> list[Query]:
    import numpy as np

    rng = np.random.default_rng(seed)
    queries: list[Query] = []
    names = sorted(videos)
    for name in names:
        if name in {q for q, _, _, _ in KNOWN_COPIES}:
            continue
        duration = common.probe_duration(videos[name]) or 0.0
        positive = name not in NOT_INDEXED
        # the cut positions do not depend on how many are used: --quick takes the first of the same
        positions = []
        for _ in range(max(cuts, 2)):
            dur = float(min(rng.uniform(3.0, 8.0), max(duration - 0.4, 1.0)))
            positions.append((float(rng.uniform(0.0, max(duration - dur - 0.2, 0.0))), dur))
        for c in range(cuts):
            start, dur = positions[c]
            outs = {}
            for t in transforms:
                qid = f"{name.replace('.', '_')}.c{c}.{t}"
                out = CUTS / f"{qid}.{start:.3f}+{dur:.3f}.mp4"  # named by what it holds
                q = Query(qid=qid, path=str(out), source=name, transform=t, positive=positive,
                          ref=name if positive else None, ref_start=start, ref_end=start + dur,
                          query_start=0.0, query_end=dur)
                if t.startswith("speed"):
                    q.query_end = dur / float(t[len("speed"):])
                if t == "partial":
                    fillers = [f for f in FILLERS if f != name]
                    filler = videos[fillers[c % len(fillers)]]
                    before = c % 2 == 0
                    make_partial(videos[name], start, dur, out, filler=filler, before=before)
                    if before:
                        q.query_start, q.query_end = PARTIAL_FILL, PARTIAL_FILL + dur
                else:
                    outs[t] = out
                queries.append(q)
            make_cuts(videos[name], start, dur, outs)
        log(f"  cuts of {name}: done", flush=True)
    for qname, ref, s, e in KNOWN_COPIES:
        if qname in videos and ref in videos:
            queries.append(Query(qid=f"known.{Path(qname).stem}", path=str(videos[qname]), source=qname,
                                 transform="known-copy", positive=True, ref=ref, ref_start=s, ref_end=e,
                                 query_start=0.0, query_end=e - s))
    for name in HELD_OUT:
        if name in videos:
            d = common.probe_duration(videos[name]) or 0.0
            queries.append(Query(qid=f"whole.{Path(name).stem}", path=str(videos[name]), source=name,
                                 transform="whole", positive=False, query_end=d))
    return queries


# -- methods ----------------------------------------------------------------------------------------
def run_vidsearch(lib, queries: list[Query], names: dict[str, str], log=print) -> tuple[dict, list[float]]:
    """All located alignments per query (no threshold), with their features."""
    from vidsearch.search.clip import describe_clip, locate
    from vidsearch.search.dedup import candidate_floor

    out: dict[str, list[Found]] = {}
    times = []
    for k, q in enumerate(queries):
        t = time.perf_counter()
        query = describe_clip(q.path, encoders=lib.encoders, settings=lib.settings)
        # what dedup_clip does, before its threshold (applied, and calibrated, afterwards)
        hits = locate(query, store=lib.store, catalog=lib.catalog, settings=lib.settings, encoders=lib.encoders,
                      min_hit=candidate_floor(lib.settings))
        times.append(time.perf_counter() - t)
        out[q.qid] = [Found(names[h.video_id], h.alignment.ref_start, h.alignment.ref_end, h.alignment.query_start,
                            h.alignment.query_end, h.alignment.score,
                            {"mean_sim": round(float(h.alignment.sims.mean()), 4),
                             "nodes": h.alignment.nodes, "speed": round(h.alignment.speed, 3)})
                      for h in hits]
        if (k + 1) % 50 == 0:
            log(f"  vidsearch: {k + 1}/{len(queries)} queries", flush=True)
    return out, times


def _phash_frames(path: str, fps: float):
    import imagehash
    import numpy as np
    from PIL import Image

    from vidsearch.media import probe, sample_frames

    info = probe(path)
    times, hashes = [], []
    for chunk in sample_frames(path, info, fps=fps, short_side=224):
        for f in chunk:
            if f.image.std() < 4.0:  # flat picture (black, fade): no evidence
                continue
            h = imagehash.phash(Image.fromarray(f.image))
            hashes.append(int(str(h), 16))
            times.append(f.timestamp)
    return np.array(times), np.array(hashes, dtype=np.uint64)


def _popcount(x):
    import numpy as np

    x = x.astype(np.uint64)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)


def run_phash(indexed: dict[str, Path], queries: list[Query], *, query_fps: float, max_distance: int,
              log=print) -> tuple[dict, list[float]]:
    import numpy as np

    index = {name: _phash_frames(str(p), 1.0) for name, p in indexed.items()}
    out: dict[str, list[Found]] = {}
    times = []
    for k, q in enumerate(queries):
        t0 = time.perf_counter()
        qt, qh = _phash_frames(q.path, query_fps)
        found = []
        for name, (rt, rh) in index.items():
            if len(qh) == 0 or len(rh) == 0:
                continue
            dist = _popcount(np.bitwise_xor(qh[:, None], rh[None, :]))
            best = dist.argmin(axis=1)
            vote = dist[np.arange(len(qh)), best] <= max_distance
            if not vote.any():
                continue
            score = float(vote.mean())
            period = 1.0 / query_fps
            found.append(Found(name, float(rt[best[vote]].min()), float(rt[best[vote]].max()) + 1.0,
                               float(qt[vote].min()), float(qt[vote].max()) + period, score))
        found.sort(key=lambda f: -f.score)
        times.append(time.perf_counter() - t0)
        out[q.qid] = found
        if (k + 1) % 100 == 0:
            log(f"  phash: {k + 1}/{len(queries)} queries", flush=True)
    return out, times


# -- scoring ------------------------------------------------------------------------------------------
def iou(a0, a1, b0, b1) -> float:
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 else 0.0


def evaluate(queries: list[Query], found: dict[str, list[Found]], threshold: float,
             pairs: list[dict] | None = None) -> dict:
    """``pairs``: what ``dedup --all`` found among the indexed clips (which share no footage: every
    pair at or above the threshold is a false pair)."""
    tp_matches = matches = right_video = 0
    pos = neg = detected = neg_with_match = 0
    ious, qious = [], []
    per_transform: dict[str, list[int]] = {}
    missed, false = [], []
    for q in queries:
        reported = [f for f in found.get(q.qid, []) if f.score >= threshold]
        matches += len(reported)
        good = [f for f in reported if q.positive and f.video == q.ref
                and min(f.ref_end, q.ref_end) > max(f.ref_start, q.ref_start)]
        tp_matches += len(good)
        right_video += sum(q.positive and f.video == q.ref for f in reported)
        for f in reported:
            if f not in good:
                false.append({"query": q.qid, "video": f.video, "score": round(f.score, 4)})
        if q.positive:
            pos += 1
            stats = per_transform.setdefault(q.transform, [0, 0])
            stats[1] += 1
            if good:
                detected += 1
                stats[0] += 1
                best = max(good, key=lambda f: iou(f.ref_start, f.ref_end, q.ref_start, q.ref_end))
                ious.append(iou(best.ref_start, best.ref_end, q.ref_start, q.ref_end))
                qious.append(iou(best.query_start, best.query_end, q.query_start, q.query_end))
            else:
                ious.append(0.0)
                qious.append(0.0)
                missed.append(q.qid)
        else:
            neg += 1
            neg_with_match += bool(reported)
    import numpy as np

    return {
        "threshold": round(threshold, 4),
        "positives": pos, "negatives": neg,
        "recall": round(detected / pos, 4) if pos else None,
        "precision": round(tp_matches / matches, 4) if matches else None,
        "video_precision": round(right_video / matches, 4) if matches else None,
        "matches": matches, "false_matches": matches - tp_matches,
        "negatives_with_a_match": neg_with_match,
        "dedup_all_false_pairs": None if pairs is None else sum(p["score"] >= threshold for p in pairs),
        "ref_iou_ge_0.5": round(float(np.mean(np.array(ious) >= 0.5)), 4) if ious else None,
        "ref_iou_median": round(float(np.median(ious)), 3) if ious else None,
        "query_iou_ge_0.5": round(float(np.mean(np.array(qious) >= 0.5)), 4) if qious else None,
        "recall_by_transform": {t: round(a / b, 3) for t, (a, b) in sorted(per_transform.items())},
        "missed": missed[:40],
        "false": false[:40],
    }


def calibrate(queries: list[Query], found: dict[str, list[Found]], pairs: list[dict] | None = None) -> dict:
    """The threshold rule: the lowest 0.01 step above every look-alike score -- matches on a video
    that does not hold the footage (never-indexed queries included) and ``dedup --all`` pairs among
    the indexed clips (which share no footage). Whether a copy is placed at the right moment of
    the right video is not a threshold question (static cameras) and is reported apart.

    Checked by 2-fold cross-validation by source clip: the rule applied to one half, figures on
    the other (a pair belongs to the half of its first clip)."""
    import math

    import numpy as np

    def look_alikes(qs, ps):
        out = [f.score for q in qs for f in found.get(q.qid, []) if not (q.positive and f.video == q.ref)]
        return out + [p["score"] for p in (ps or [])]

    def rule(qs, ps):
        worst = max(look_alikes(qs, ps), default=0.0)
        return round(math.floor(worst * 100 + 1e-9) / 100 + 0.01, 2)

    sources = sorted({q.source for q in queries})
    folds = [set(sources[0::2]), set(sources[1::2])]
    out = {"rule": "lowest 0.01 step above every look-alike score (wrong-video matches, never-indexed queries"
                   + (", dedup --all pairs among the indexed clips)" if pairs is not None else ")"), "folds": []}
    for fold in folds:
        train = [q for q in queries if q.source in fold]
        test = [q for q in queries if q.source not in fold]
        ptrain = None if pairs is None else [p for p in pairs if p["query"] in fold]
        ptest = None if pairs is None else [p for p in pairs if p["query"] not in fold]
        t = rule(train, ptrain)
        e = evaluate(test, found, t, ptest)
        out["folds"].append({"threshold": t, "test": {k: e[k] for k in (
            "recall", "precision", "video_precision", "negatives_with_a_match", "dedup_all_false_pairs",
            "ref_iou_ge_0.5")}})
    out["all_data_threshold"] = rule(queries, pairs)
    neg = sorted(look_alikes(queries, pairs), reverse=True)
    out["highest_look_alike_scores"] = [round(x, 4) for x in neg[:5]]
    pos_best = [max((f.score for f in found.get(q.qid, []) if f.video == q.ref), default=0.0)
                for q in queries if q.positive]
    out["true_video_score_quantiles"] = {p: round(float(np.percentile(pos_best, p)), 4) for p in (1, 2, 5, 10, 50)}
    return out


# -- latency ----------------------------------------------------------------------------------------
def latency(indexed: dict[str, Path], query: Path, source: str, *, frames: int, runs: int, log=print) -> dict:
    """A 10-s clip query (``dedup_clip``, and ``search_clip``) with the real clips indexed and the
    store padded to ``frames`` frames with synthetic videos of 600 keyframes each, with catalog
    records as ingestion would leave them. Their descriptors are perturbed copies (cosine ~0.86)
    of the descriptors of the indexed clips other than the query's ``source``: other footage,
    about as alike to the query as real unrelated videos are."""
    import tempfile

    import numpy as np

    from vidsearch.catalog import VideoRecord
    from vidsearch.config import Settings
    from vidsearch.library import Library
    from vidsearch.records import Keyframe

    tmp = Path(tempfile.mkdtemp(prefix="vidsearch-bench-dedup-"))
    try:
        settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": str(tmp / "data"), "VIDSEARCH_SEMANTIC": "0"})
        rep: dict = {}
        with Library(settings) as lib:
            for r in lib.ingest(list(indexed.values())):
                assert r.status == "indexed", r
            real = lib.store.count_frames()
            basis = np.stack([v for r in lib.videos() if Path(r.path).name != source
                              for _, _, v in lib.store.frames_of(r.id)])
            rng = np.random.default_rng(0)
            per_video = 600
            n_pad = max(0, frames - real)
            t = time.perf_counter()
            lib.catalog._db.execute("BEGIN")
            for k in range(0, n_pad, per_video):
                m = min(per_video, n_pad - k)
                vid = f"pad{k // per_video:013d}"
                src = basis[rng.integers(0, len(basis), m)]
                noise = rng.standard_normal((m, 512)).astype(np.float32)
                noise /= np.linalg.norm(noise, axis=1, keepdims=True)
                vecs = src + 0.6 * noise
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                lib.store.upsert_frames(vid, [Keyframe(timestamp=float(i), segment_index=i // 10 * 10000,
                                                       until=float(i + 1), copy=vecs[i]) for i in range(m)])
                lib.catalog.upsert(VideoRecord(id=vid, path=f"/videos/{vid}.mp4", status="indexed",
                                               duration=float(m), frames=m, added_at=1.0))
            lib.catalog._db.execute("COMMIT")
            lib.store.flush()
            rep["pad_s"] = round(time.perf_counter() - t, 1)
            rep["frames_stored"] = lib.store.count_frames()
            rep["query"] = query.name
            rep["query_duration_s"] = round(common.probe_duration(query) or 0.0, 2)
            lib.dedup_clip(query)  # warm-up (model load)
            ms = []
            for _ in range(runs):
                t = time.perf_counter()
                found = lib.dedup_clip(query)
                ms.append((time.perf_counter() - t) * 1000)
            rep["matches"] = [m.to_dict() for m in found]
            ms_search = []
            for _ in range(max(3, runs // 3)):
                t = time.perf_counter()
                lib.search_clip(query)
                ms_search.append((time.perf_counter() - t) * 1000)
            rep["search_clip_p50_ms"] = round(common.percentile(ms_search, 50), 1)
            # where the time goes, once
            from vidsearch.search.clip import describe_clip, locate
            from vidsearch.search.dedup import candidate_floor

            t = time.perf_counter()
            qd = describe_clip(query, encoders=lib.encoders, settings=settings)
            rep["describe_ms"] = round((time.perf_counter() - t) * 1000, 1)
            t = time.perf_counter()
            locate(qd, store=lib.store, catalog=lib.catalog, settings=settings, encoders=lib.encoders,
                   min_hit=candidate_floor(settings))
            rep["locate_ms"] = round((time.perf_counter() - t) * 1000, 1)
            rep["query_frames"] = len(qd)
        rep["p50_ms"] = round(common.percentile(ms, 50), 1)
        rep["p95_ms"] = round(common.percentile(ms, 95), 1)
        rep["runs"] = runs
        log(f"  latency at {rep['frames_stored']} frames: p50 {rep['p50_ms']} ms, p95 {rep['p95_ms']} ms "
            f"(describe {rep['describe_ms']} ms, locate {rep['locate_ms']} ms)", flush=True)
        return rep
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_query_set(a, videos, indexed, transforms, cuts, report) -> None:
    from vidsearch.config import Settings
    from vidsearch.library import Library

    t = time.perf_counter()
    queries = build_queries(videos, cuts=cuts, transforms=transforms, seed=a.seed)
    report["query_set"] = {"queries": len(queries), "positives": sum(q.positive for q in queries),
                           "negatives": sum(not q.positive for q in queries), "cuts_per_clip": cuts,
                           "seed": a.seed, "build_s": round(time.perf_counter() - t, 1)}
    print(f"{len(queries)} queries ({report['query_set']['positives']} positive)", flush=True)

    data = WORK / "data"
    shutil.rmtree(data, ignore_errors=True)
    settings = Settings.from_env({**os.environ, "VIDSEARCH_DATA_DIR": str(data)})
    threshold = settings.dedup_threshold if a.threshold is None else a.threshold
    with Library(settings) as lib:
        t = time.perf_counter()
        names = {}
        for r in lib.ingest(list(indexed.values())):
            if r.status != "indexed":
                sys.exit(f"cannot index {r.path}: {r.error}")
            names[r.video_id] = Path(r.path).name
        report["index"] = {"videos": len(names), "frames": lib.store.count_frames(),
                           "ingest_s": round(time.perf_counter() - t, 1)}
        found, times = run_vidsearch(lib, queries, names)
        # dedup --all among the indexed clips, at no threshold: they share no footage, so every pair
        # is a look-alike; the threshold must stay above them all
        from vidsearch.search.dedup import dedup_all

        t = time.perf_counter()
        pairs = [{"query": names[m.query_video_id], "ref": names[m.video_id], "score": round(m.score, 4),
                  "query_span": [round(m.query_start, 2), round(m.query_end, 2)],
                  "ref_span": [round(m.ref_start, 2), round(m.ref_end, 2)]}
                 for m in dedup_all(encoders=lib.encoders, store=lib.store, catalog=lib.catalog,
                                    settings=settings.with_(dedup_threshold=0.0))]
        report["dedup_all"] = {"s": round(time.perf_counter() - t, 1), "videos": len(names),
                               "pairs_at_any_score": len(pairs), "top": sorted(pairs, key=lambda p: -p["score"])[:10]}
    report["vidsearch"] = {"settings": {k: getattr(settings, k) for k in ("clip_fps", "clip_candidates",
                                                                          "clip_min_sim", "sample_fps")},
                           **evaluate(queries, found, threshold, pairs),
                           "query_s_p50": round(common.percentile(times, 50), 3)}
    if a.calibrate:
        report["vidsearch"]["calibration"] = calibrate(queries, found, pairs=pairs)
    v = report["vidsearch"]
    print(f"vidsearch @ {threshold}: recall {v['recall']}, precision {v['precision']}, "
          f"IoU>=0.5 {v['ref_iou_ge_0.5']}, negatives with a match {v['negatives_with_a_match']}, "
          f"false dedup --all pairs {v['dedup_all_false_pairs']}", flush=True)
    if a.calibrate:
        print("calibration:", json.dumps(v["calibration"]), flush=True)

    rows = {q.qid: {**asdict(q), "vidsearch": [asdict(f) for f in found[q.qid]]} for q in queries}
    rows["dedup_all_pairs"] = pairs
    if not a.skip_phash:
        pfound, ptimes = run_phash(indexed, queries, query_fps=settings.clip_fps, max_distance=a.phash_distance)
        cal = calibrate(queries, pfound)
        pthr = cal["all_data_threshold"]
        report["phash"] = {"max_distance": a.phash_distance, **evaluate(queries, pfound, pthr),
                           "calibration": cal, "query_s_p50": round(common.percentile(ptimes, 50), 3)}
        p = report["phash"]
        print(f"pHash @ {pthr}: recall {p['recall']}, precision {p['precision']}, IoU>=0.5 {p['ref_iou_ge_0.5']}, "
              f"negatives with a match {p['negatives_with_a_match']}", flush=True)
        report["ratios_to_phash"] = {k: common.ratio(v[k], p[k]) for k in ("recall", "precision", "ref_iou_ge_0.5")}
        for q in queries:
            rows[q.qid]["phash"] = [asdict(f) for f in pfound[q.qid]]
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / (f"queries{a.label}.quick.json" if a.quick else f"queries{a.label}.json")).write_text(
        json.dumps(rows, indent=1))


# -- main ---------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=Path, default=None, help="folder of the real clips")
    ap.add_argument("--cuts", type=int, default=2, help="cuts per clip and transformation")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threshold", type=float, default=None, help="dedup threshold (default: the setting)")
    ap.add_argument("--calibrate", action="store_true", help="also sweep the threshold (2-fold CV by clip)")
    ap.add_argument("--phash-distance", type=int, default=10)
    ap.add_argument("--skip-phash", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--latency-frames", type=int, default=100_000)
    ap.add_argument("--latency-runs", type=int, default=15)
    ap.add_argument("--quick", action="store_true", help="1 cut, 6 transformations, no latency")
    ap.add_argument("--label", default="", help="suffix of the output names (e.g. a setting being compared)")
    ap.add_argument("--latency-only", action="store_true", help="only the 100k-frame latency")
    a = ap.parse_args()
    common.check_product_ready()
    os.environ.setdefault("VIDSEARCH_SEMANTIC", "0")  # copy descriptors only: dedup does not use semantics

    files = common.real_videos(a.videos, required=True)
    videos = {p.name: p for p in files}
    indexed = {n: p for n, p in videos.items() if n not in NOT_INDEXED}
    transforms = QUICK_TRANSFORMS if a.quick else list(TRANSFORMS)
    cuts = 1 if a.quick else a.cuts
    report: dict = {"machine": common.machine(), "indexed": sorted(indexed), "held_out": HELD_OUT,
                    "known_copies": KNOWN_COPIES, "transforms": {t: TRANSFORMS[t][0] or " ".join(TRANSFORMS[t][1])
                                                                for t in transforms}}
    print(common.machine_line(report["machine"]), flush=True)

    if not a.latency_only:
        run_query_set(a, videos, indexed, transforms, cuts, report)

    if not (a.skip_latency or a.quick):
        src = videos.get("05_default_juggle.mp4") or next(iter(indexed.values()))
        q10 = _ffmpeg(["-i", str(src), "-t", "10", *X264, "-crf", "26"], CUTS / "latency_10s.mp4")
        report["latency"] = latency(indexed, q10, src.name, frames=a.latency_frames, runs=a.latency_runs)

    common.write_json(f"dedup{a.label}", report, quick=a.quick)


if __name__ == "__main__":
    main()
