"""Candidate retrieval with one vector per clip: the temporal segment encoder vs mean pooling.

A transformed query clip is encoded into ONE vector two ways and searched against the segment
vectors of an index of the shared clips:

* ``mean``: the mean of the SSCD copy descriptors of the query's sampled frames, searched against
  each segment's ``copy`` vector (the mean of its keyframes' descriptors);
* ``temporal``: the two-stream CNN-LSTM encoder (``vidsearch/models/temporal.py``) over the
  query's sampled frames, searched against each segment's ``temporal`` vector.

Data (``../shared/testvideos``):

* the index holds every clip except ``NEVER_INDEXED`` (ingested with the real runner,
  ``VIDSEARCH_SEGMENT_ENCODER=temporal``, so each segment stores both vectors);
* ``QUERY_SOURCES`` are indexed but were held out of the encoder's training (checked against the
  weights file's ``held_out`` list); from each, 2-3 seeded 6-s ranges are cut with ffmpeg (decoded
  from the start, ``trim``) under each transformation of ``TRANSFORMS``: low-bitrate 240p
  re-encode, 70 % crop, letterbox, pillarbox, grayscale, brightness/contrast, caption bar + logo,
  0.8x speed, 1.25x speed at 15 fps, 2 s of never-indexed footage before or after the copied part,
  and a combination;
* negatives: the same transformations of ranges of ``NEVER_INDEXED`` clips (no right answer);
* ``SEEN_SOURCES``: clips the encoder was trained on, reported apart (fit, not generalisation).

A hit is the right video when it is the source (or a known copy of it: ``EQUIVALENT``), and the
right segment when it also overlaps the copied source range by at least 0.5 s.
Separation: the top-1 score of positives vs negatives (AUC, and the share of positives whose
top-1 hit is right *and* scores above every negative's top-1).

    .venv/bin/python bench/temporal.py                    # committed weights
    .venv/bin/python bench/temporal.py --weights other.pt

Output: ``bench/out/temporal/results.json`` (query clips and per-query features cached there).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402

OUT = common.OUT / "temporal"
SEARCH_LIMIT = 20  # segments per search (recall@1/@5 use the first ones; the margin needs another video)
QUERY_LEN = 6.0  # seconds of source footage per query
FOREIGN_LEN = 2.0

NEVER_INDEXED = ["04_coffee.mp4", "chaplin.mp4", "bedroom.mp4", "flipping_a_pancake.mkv",
                 "test_video_structuralize.mp4"]
QUERY_SOURCES = ["01_dog.mp4", "03_blocks.mp4", "testvideo.mp4", "big_buck_bunny_0_30.webm", "demo.mp4",
                 "charades.mp4", "Megamind.avi", "cockatoo.mp4", "goldeneye-vfr-drop3.mp4"]
SEEN_SOURCES = ["02_cups.mp4", "05_default_juggle.mp4", "issue-195-aspect-ratio.mp4", "vtest.avi"]
# (video, copy, offset, (lo, hi)): source time t in ``video`` (lo <= t <= hi) is t - offset in ``copy``
EQUIVALENT = [("cockatoo.mp4", "cockatoo_yuv420.mp4", 0.0, (0.0, 1e9)),
              ("big_buck_bunny_0_30.webm", "example2.mp4", 5.0, (5.0, 7.0)),
              ("test.mp4", "part_0.mp4", 0.0, (0.0, 1.067))]

EVEN = "scale=trunc(iw/2)*2:trunc(ih/2)*2"
CAPTION = ("drawbox=x=0:y=ih*0.8:w=iw:h=ih*0.2:color=black@0.8:t=fill,"
           "drawtext=text='BREAKING NEWS 24/7':x=w*0.04:y=h*0.85:fontsize=h*0.08:fontcolor=white")
LOGO = "drawbox=x=iw*0.86:y=ih*0.05:w=iw*0.09:h=iw*0.09:color=red@0.9:t=fill"
# name: (filter after the cut, speed, crf, foreign footage: None / "before" / "after")
TRANSFORMS = {
    "reencode_240p": ("scale=-2:240", 1.0, 40, None),
    "crop70": ("crop=iw*0.7:ih*0.7:iw*0.1:ih*0.2", 1.0, 23, None),
    "letterbox": ("pad=iw:ih*1.4:0:(oh-ih)/2:black", 1.0, 23, None),
    "pillarbox": ("pad=iw*1.4:ih:(ow-iw)/2:0:black", 1.0, 23, None),
    "grayscale": ("hue=s=0", 1.0, 23, None),
    "bright_contrast": ("eq=brightness=0.12:contrast=1.35", 1.0, 23, None),
    "caption_logo": (f"{CAPTION},{LOGO}", 1.0, 23, None),
    "speed_0.8x": ("null", 0.8, 23, None),
    "speed_1.25x_15fps": ("fps=15", 1.25, 23, None),
    "other_before": ("null", 1.0, 23, "before"),
    "other_after": ("null", 1.0, 23, "after"),
    "combo": (f"crop=iw*0.8:ih*0.8,hue=s=0,{CAPTION},scale=-2:240", 1.1, 34, None),
}
SEEN_TRANSFORMS = ("reencode_240p", "crop70", "grayscale", "caption_logo", "speed_1.25x_15fps", "combo")
NEGATIVE_TRANSFORMS = SEEN_TRANSFORMS + ("letterbox", "other_before")


# Query clips ------------------------------------------------------------------------------

def ranges_for(name: str, duration: float, n: int | None = None) -> list[float]:
    """Seeded start times of the copied ranges of one source video."""
    n = n or (3 if duration > 20 else 2)
    rng = np.random.default_rng(int(hashlib.blake2b(name.encode(), digest_size=4).hexdigest(), 16))
    hi = max(0.0, duration - QUERY_LEN - 0.3)
    if hi <= 0:
        return [0.0]
    slots = np.linspace(0, hi, n + 1)
    return [round(float(rng.uniform(slots[i], slots[i + 1])), 2) for i in range(n)]


def _ffmpeg(cmd: list[str], out: Path) -> Path:
    if not out.exists():
        tmp = out.with_suffix(".part.mp4")
        subprocess.run([common.need_ffmpeg(), "-v", "error", "-y", *cmd, str(tmp)], check=True)
        tmp.replace(out)
    return out


def cut(src: Path, start: float, length: float, out: Path) -> Path:
    """``length`` s of ``src`` from ``start``, decoded from the start (no fast seek: it returns
    corrupt frames on some of these files), kept nearly lossless; every transformation of this
    range starts from it, so the long source is decoded once per range, not once per query."""
    return _ffmpeg(["-i", str(src), "-vf", f"trim=start={start:.3f}:duration={length:.3f},setpts=PTS-STARTPTS",
                    "-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8", "-pix_fmt", "yuv444p"], out)


def make_clip(part: Path, transform: str, out: Path, foreign: Path) -> Path:
    """The query clip: the cut ``part`` under ``transform`` (``foreign``: 2 s of other footage)."""
    vf, speed, crf, where = TRANSFORMS[transform]
    cmd = ["-i", str(part)]
    if where is None:
        graph = f"[0:v]setpts=PTS/{speed},{vf},{EVEN},format=yuv420p[out]"
    else:
        cmd += ["-i", str(foreign)]
        box = "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25"
        graph = (f"[0:v]setpts=PTS/{speed},{box},format=yuv420p[a];[1:v]{box},format=yuv420p[b];"
                 + ("[b][a]" if where == "before" else "[a][b]") + "concat=n=2:v=1:a=0[out]")
    preset = "veryfast" if crf > 23 else "ultrafast"  # the low-bitrate ones get a real encoder; others: speed
    return _ffmpeg(cmd + ["-filter_complex", graph, "-map", "[out]", "-an", "-c:v", "libx264", "-preset", preset,
                          "-crf", str(crf), "-pix_fmt", "yuv420p"], out)


def build_queries(videos: Path, probe) -> list[dict]:
    """Every query clip (made once, cached under bench/out/temporal/clips)."""
    clips = OUT / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    queries = []
    plan = [(n, "unseen") for n in QUERY_SOURCES] + [(n, "seen") for n in SEEN_SOURCES] + \
           [(n, "negative") for n in NEVER_INDEXED]
    foreign = {n: cut(videos / n, 1.0, FOREIGN_LEN, clips / f"{Path(n).stem}.foreign.mp4") for n in NEVER_INDEXED[:2]}
    for name, kind in plan:
        src = videos / name
        dur = probe(src).duration
        other = foreign[NEVER_INDEXED[1] if name == NEVER_INDEXED[0] else NEVER_INDEXED[0]]
        for k, start in enumerate(ranges_for(name, dur, 1 if kind == "seen" else None)):
            length = min(QUERY_LEN, dur - start)
            part = cut(src, start, length, clips / f"{Path(name).stem}.r{k}.cut.mp4")
            for t in TRANSFORMS:
                if t not in {"seen": SEEN_TRANSFORMS, "negative": NEGATIVE_TRANSFORMS}.get(kind, TRANSFORMS):
                    continue
                out = make_clip(part, t, clips / f"{Path(name).stem}.r{k}.{t}.mp4", other)
                queries.append({"clip": str(out), "source": name, "kind": kind, "transform": t,
                                "range": [start, round(start + length, 3)]})
    return queries


# Scoring ------------------------------------------------------------------------------------

def acceptable(source: str, rng: tuple[float, float]) -> list[tuple[str, float, float]]:
    """(video name, start, end) of the copied footage in every indexed video that holds it."""
    out = [(source, rng[0], rng[1])]
    for a, b, off, (lo, hi) in EQUIVALENT:
        for x, y, sign in ((a, b, 1), (b, a, -1)):
            if x != source:
                continue
            s, e = max(rng[0], lo if sign > 0 else lo - off), min(rng[1], hi if sign > 0 else hi - off)
            if e - s > 0.25:
                out.append((y, s - sign * off, e - sign * off))
    return out


def judge(hits: list[tuple[str, float, float, float]], q: dict) -> dict:
    """hits: (video name, segment start, end, score), best first."""
    ok = acceptable(q["source"], tuple(q["range"])) if q["kind"] != "negative" else []
    vid = [any(h[0] == a[0] for a in ok) for h in hits]
    seg = [any(h[0] == a[0] and min(h[2], a[2]) - max(h[1], a[1]) >= 0.5 for a in ok) for h in hits]
    right = [h[3] for h, v in zip(hits, vid) if v]
    wrong = [h[3] for h, v in zip(hits, vid) if not v]
    margin = (right[0] if right else -1.0) - (wrong[0] if wrong else -1.0) if ok else None
    return {"video@1": bool(vid[:1] and vid[0]), "video@5": any(vid[:5]),
            "segment@1": bool(seg[:1] and seg[0]), "segment@5": any(seg[:5]),
            "top1": hits[0][3] if hits else -1.0, "top1_video": hits[0][0] if hits else None,
            "margin": margin}


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def summarise(rows: list[dict], method: str) -> dict:
    out: dict = {}
    for kind in ("unseen", "seen"):
        rs = [r[method] for r in rows if r["kind"] == kind]
        if not rs:
            continue
        out[kind] = {k: round(float(np.mean([r[k] for r in rs])), 4)
                     for k in ("video@1", "video@5", "segment@1", "segment@5")}
        out[kind]["n"] = len(rs)
    neg = [r[method]["top1"] for r in rows if r["kind"] == "negative"]
    pos = [r[method]["top1"] for r in rows if r["kind"] == "unseen"]
    right = [r[method]["top1"] for r in rows if r["kind"] == "unseen" and r[method]["video@1"]]
    max_neg = max(neg) if neg else -1.0
    margins = [r[method]["margin"] for r in rows if r["kind"] == "unseen"]
    out["margin_right_minus_best_other_video"] = {
        "mean": round(float(np.mean(margins)), 4), "p10": round(float(np.percentile(margins, 10)), 4),
        "min": round(float(np.min(margins)), 4)}
    out["separation"] = {
        "negatives": len(neg),
        "positive_top1_mean": round(float(np.mean(pos)), 4), "positive_top1_min": round(float(np.min(pos)), 4),
        "negative_top1_mean": round(float(np.mean(neg)), 4), "negative_top1_max": round(float(max_neg), 4),
        "auc": round(auc(pos, neg), 4),
        "right_above_every_negative": round(float(np.mean([s > max_neg for s in right] + [False] * (len(pos) - len(right)))), 4),
    }
    out["by_transform_segment@1"] = {
        t: round(float(np.mean([r[method]["segment@1"] for r in rows if r["kind"] == "unseen" and r["transform"] == t])), 3)
        for t in TRANSFORMS}
    return out


# Main ---------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=Path, default=common.DEFAULT_REAL_VIDEOS)
    ap.add_argument("--weights", type=Path, default=None, help="temporal weights (default: the committed ones)")
    ap.add_argument("--out", type=Path, default=OUT / "results.json")
    args = ap.parse_args()

    from vidsearch.config import Settings
    from vidsearch.library import Library
    from vidsearch.media import probe, sample_frames
    from vidsearch.models.temporal import default_weights_path, motion_frame

    machine = common.machine()
    weights = (args.weights or default_weights_path()).resolve()
    wtag = hashlib.blake2b(weights.read_bytes(), digest_size=6).hexdigest()
    import torch

    meta = torch.load(weights, map_location="cpu", weights_only=True).get("meta", {})
    trained = set(meta.get("trained_on", []))
    leaked = sorted(trained & set(QUERY_SOURCES + NEVER_INDEXED))
    if leaked:
        print(f"warning: the weights were trained on query/negative videos: {leaked}", file=sys.stderr)

    t0 = time.perf_counter()
    queries = build_queries(args.videos, probe)
    t_clips = time.perf_counter() - t0
    print(f"{len(queries)} query clips ready ({t_clips:.0f} s)", file=sys.stderr)

    data = OUT / f"data-{wtag}"
    shutil.rmtree(data, ignore_errors=True)
    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(data), "VIDSEARCH_SEGMENT_ENCODER": "temporal",
                                  "VIDSEARCH_SEMANTIC": "0", "VIDSEARCH_TEMPORAL_WEIGHTS": str(weights)})
    indexed = sorted(p for p in args.videos.iterdir()
                     if p.suffix.lower() in common.VIDEO_EXTS and p.name not in NEVER_INDEXED)
    rows = []
    with Library(settings) as lib:
        t0 = time.perf_counter()
        results = list(lib.ingest([str(p) for p in indexed]))
        t_ingest = time.perf_counter() - t0
        failed = [r.path for r in results if r.status != "indexed"]
        names = {r.video_id: Path(r.path).name for r in results if r.video_id}
        print(f"indexed {len(results) - len(failed)} videos, {lib.store.count_segments()} segments "
              f"({t_ingest:.0f} s); failed: {failed}", file=sys.stderr)
        enc = lib.encoders
        feats_dir = OUT / "features"
        feats_dir.mkdir(exist_ok=True)
        t_mean = t_temp = 0.0
        for q in queries:
            f = feats_dir / (Path(q["clip"]).stem + f".fps{settings.sample_fps:g}.npz")
            if f.exists():
                z = np.load(f)
                copy, grey = z["copy"], z["grey"]
            else:
                frames = [fr for ch in sample_frames(q["clip"], probe(q["clip"]), fps=settings.sample_fps,
                                                     short_side=settings.frame_size) for fr in ch]
                copy = enc.copy.embed([fr.image for fr in frames])
                grey = np.stack([motion_frame(fr.image) for fr in frames])
                np.savez(f, copy=copy, grey=grey)
            t = time.perf_counter()
            mean = copy.mean(0)
            mean /= np.linalg.norm(mean)
            hits_m = lib.store.search_segments("copy", mean, SEARCH_LIMIT)
            t_mean += time.perf_counter() - t
            t = time.perf_counter()
            tv = enc.temporal.encode_clip(None, copy, grey=grey)
            hits_t = lib.store.search_segments("temporal", tv, SEARCH_LIMIT)
            t_temp += time.perf_counter() - t
            as_rows = lambda hits: [(names.get(s.video_id, s.video_id), s.start, s.end, sc) for s, sc in hits]  # noqa: E731
            rows.append({**q, "steps": int(len(copy)), "mean": judge(as_rows(hits_m), q),
                         "temporal": judge(as_rows(hits_t), q)})

    report = {
        "machine": machine,
        "weights": {"path": str(weights), "blake2b": wtag, "trained_on": sorted(trained),
                    "held_out": meta.get("held_out", []), "leaked": leaked},
        "index": {"videos": len(indexed), "never_indexed": NEVER_INDEXED, "ingest_seconds": round(t_ingest, 1)},
        "queries": {"unseen": sum(r["kind"] == "unseen" for r in rows), "seen": sum(r["kind"] == "seen" for r in rows),
                    "negative": sum(r["kind"] == "negative" for r in rows), "clip_seconds": round(t_clips, 1)},
        "ms_per_query_after_sscd": {"mean": round(1000 * t_mean / len(rows), 2),
                                    "temporal": round(1000 * t_temp / len(rows), 2)},
        "mean": summarise(rows, "mean"),
        "temporal": summarise(rows, "temporal"),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(common.machine_line(machine))
    for m in ("mean", "temporal"):
        s = report[m]
        print(m, json.dumps({k: s[k] for k in ("unseen", "seen", "margin_right_minus_best_other_video", "separation")
                             if k in s}))
        print("   by transform (segment@1):", json.dumps(s["by_transform_segment@1"]))
    print("ms per query after SSCD:", report["ms_per_query_after_sscd"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
