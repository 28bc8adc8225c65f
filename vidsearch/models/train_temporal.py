"""Self-supervised training of the temporal segment encoder (:mod:`vidsearch.models.temporal`).

``vidsearch train-temporal FOLDER... --out weights.pt --epochs N``

1. **Precompute, once per video** (cached in ``--cache``): frames sampled with
   :func:`~vidsearch.media.decode.sample_frames` at ``--fps`` (4/s: finer than the 1/s steps, so
   windows can start at any phase and be resampled for speed changes), each under ``--views``
   fixed *views*: view 0 is the clean frame, the others each draw one combination of the copy
   transformations (:func:`random_view`: crop, letterbox/pillarbox bars, downscale, JPEG
   re-encoding, grayscale, brightness/contrast, caption bar, logo) and apply it to every frame of
   the video, as an edited copy would. Per view and frame the SSCD descriptor (the real model) and
   the 64 x 64 grey motion frame are kept, so an epoch decodes and embeds nothing.
2. **Train**: a batch holds ``--batch`` windows of footage. The anchor is a window of 3-15 steps
   (1 step = 1 / ``VIDSEARCH_SAMPLE_FPS`` s) in one view (the clean one half of the time); its
   positive is another view of the same footage, resampled at a speed of 0.8-1.25x, cut to 3-12
   steps that cover only part of the anchor (temporal crop, partial overlap), and a third of the
   time padded with 1-3 steps of other footage before or after (a query that starts before or ends
   after the copied part). Every other window of the batch is a negative, except windows of the
   same footage (the same video, or videos found to share frames, e.g. a re-encoded twin).
   Loss: symmetric InfoNCE (NT-Xent) at temperature ``--tau``; AdamW, cosine learning rate.
3. **Report** each epoch: the loss, and top-1 retrieval accuracy of the network against plain mean
   pooling on fixed probe batches of the training videos and of the ``--holdout`` videos (never
   trained on).

The GPU is used when there is one (``VIDSEARCH_DEVICE``), the CPU otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .temporal import GREY, build_network, motion_frame, save_weights

log = logging.getLogger(__name__)

RECIPE = 1  # bump when the precomputed views change meaning (invalidates the cache)
SAME_FOOTAGE = 0.75  # two videos with a pair of frames at least this similar (SSCD) share footage


# Views: one fixed combination of copy transformations per (video, view) -------------------------

def random_view(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one edited copy; at least two transformations."""
    while True:
        p: dict[str, Any] = {}
        if rng.random() < 0.4:
            p["crop"] = [float(rng.uniform(0.65, 0.92)), float(rng.random()), float(rng.random())]
        if rng.random() < 0.3:
            p["pad"] = [str(rng.choice(["letterbox", "pillarbox", "both"])), float(rng.uniform(0.08, 0.3)),
                        int(rng.integers(0, 40))]
        if rng.random() < 0.5:
            p["scale"] = int(rng.integers(72, 180))  # short side of the copy, px (240p and below)
        if rng.random() < 0.55:
            p["jpeg"] = int(rng.integers(8, 45))
        if rng.random() < 0.3:
            p["grey"] = True
        if rng.random() < 0.5:
            p["bc"] = [float(rng.uniform(-0.3, 0.3)), float(rng.uniform(0.6, 1.5))]
        if rng.random() < 0.3:
            p["caption"] = [float(rng.uniform(0.08, 0.2)), int(rng.integers(1 << 30)), float(rng.uniform(0.6, 1.0))]
        if rng.random() < 0.2:
            p["logo"] = [int(rng.integers(4)), float(rng.uniform(0.08, 0.16)), [int(c) for c in rng.integers(0, 256, 3)]]
        if len(p) >= 2:
            return p


def _text(seed: int, n: int) -> str:
    rng = np.random.default_rng(seed)
    words = ["".join(chr(c) for c in rng.integers(65, 91, int(rng.integers(3, 9)))) for _ in range(n)]
    return " ".join(words)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=max(6, size))
    except TypeError:  # Pillow < 10.1: one small bitmap font
        return ImageFont.load_default()


def apply_view(image: np.ndarray, p: dict[str, Any], short_side: int = 224) -> np.ndarray:
    """The frame of the copy that ``p`` describes, decoded back to ``short_side`` px as ingest would."""
    from PIL import Image, ImageDraw, ImageEnhance

    img = Image.fromarray(image)
    w, h = img.size
    if "crop" in p:
        s, fx, fy = p["crop"]
        cw, ch = max(8, round(w * s)), max(8, round(h * s))
        x0, y0 = round((w - cw) * fx), round((h - ch) * fy)
        img = img.crop((x0, y0, x0 + cw, y0 + ch))
        w, h = img.size
    if "pad" in p:
        kind, frac, shade = p["pad"]
        bw = round(w * frac / 2) if kind in ("pillarbox", "both") else 0
        bh = round(h * frac / 2) if kind in ("letterbox", "both") else 0
        canvas = Image.new("RGB", (w + 2 * bw, h + 2 * bh), (shade, shade, shade))
        canvas.paste(img, (bw, bh))
        img = canvas
        w, h = img.size
    if "bc" in p:
        b, c = p["bc"]
        img = ImageEnhance.Contrast(img).enhance(c)
        img = ImageEnhance.Brightness(img).enhance(1.0 + b)
    if p.get("grey"):
        img = img.convert("L").convert("RGB")
    if "caption" in p:
        frac, seed, alpha = p["caption"]
        bar = max(6, round(h * frac))
        over = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        d = ImageDraw.Draw(over)
        d.rectangle([0, h - bar, w, h], fill=(0, 0, 0, round(255 * alpha)))
        d.text((max(2, w // 20), h - bar + bar // 5), _text(seed, 4), fill=(255, 255, 255, 255), font=_font(bar * 3 // 5))
        img = Image.alpha_composite(img.convert("RGBA"), over).convert("RGB")
    if "logo" in p:
        corner, frac, colour = p["logo"]
        side = max(6, round(min(w, h) * frac))
        x0 = 4 if corner in (0, 2) else w - side - 4
        y0 = 4 if corner in (0, 1) else h - side - 4
        d = ImageDraw.Draw(img)
        d.rectangle([x0, y0, x0 + side, y0 + side], fill=tuple(colour))
        d.text((x0 + 2, y0 + side // 3), "TV", fill=(255, 255, 255))
    if "scale" in p:
        s = p["scale"] / min(w, h)
        if s < 1:
            img = img.resize((max(8, round(w * s)), max(8, round(h * s))), Image.BILINEAR)
    if "jpeg" in p:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(p["jpeg"]))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    w, h = img.size
    s = short_side / min(w, h)
    return np.asarray(img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR))


# Precomputed videos -------------------------------------------------------------------------

@dataclass
class VideoViews:
    name: str
    path: str
    times: np.ndarray  # (N,) seconds of the sampled frames
    copy: np.ndarray  # (V, N, 512) float16 SSCD descriptors per view
    grey: np.ndarray  # (V, N, 64, 64) uint8 motion frames per view
    views: list[dict]  # the parameters of each view ({} for view 0)
    group: int = 0  # footage group (videos that share frames have the same group)

    @property
    def duration(self) -> float:
        return float(self.times[-1]) + 1e-3 if len(self.times) else 0.0


def _cache_key(path: Path, fps: float, views: int, seed: int, copy_model: str, short_side: int) -> str:
    from vidsearch.catalog import content_id

    text = json.dumps([RECIPE, content_id(path), fps, views, seed, copy_model, short_side, GREY])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def prepare_video(path: Path, *, copy, fps: float, views: int, seed: int, short_side: int = 224,
                  cache: Path | None = None) -> VideoViews | None:
    """Sampled frames of ``path`` under ``views`` views, embedded; None when it cannot be decoded."""
    from vidsearch.media import MediaError, probe, sample_frames

    path = Path(path)
    key = _cache_key(path, fps, views, seed, copy.variant, short_side) if cache else None
    if cache is not None:
        f = cache / f"{path.stem}-{key}.npz"
        if f.exists():
            z = np.load(f, allow_pickle=False)
            return VideoViews(path.name, str(path), z["times"], z["copy"], z["grey"], json.loads(str(z["views"])))
    try:
        info = probe(path)
        frames = [fr for chunk in sample_frames(path, info, fps=fps, short_side=short_side) for fr in chunk]
    except MediaError as exc:
        log.warning("skipping %s", exc)
        return None
    if len(frames) < 4:
        log.warning("skipping %s: only %d frames at %g/s", path, len(frames), fps)
        return None
    rng = np.random.default_rng([seed, int(hashlib.blake2b(path.name.encode(), digest_size=4).hexdigest(), 16)])
    params = [{}] + [random_view(rng) for _ in range(views - 1)]
    n = len(frames)
    descs = np.zeros((views, n, 512), np.float16)
    greys = np.zeros((views, n, GREY, GREY), np.uint8)
    for v, p in enumerate(params):
        imgs = [apply_view(fr.image, p, short_side) if p else fr.image for fr in frames]
        descs[v] = copy.embed(imgs)
        greys[v] = np.stack([motion_frame(im) for im in imgs])
    times = np.array([fr.timestamp for fr in frames], np.float64)
    out = VideoViews(path.name, str(path), times, descs, greys, params)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{path.stem}-{key}.tmp.npz"
        np.savez(tmp, times=times, copy=descs, grey=greys, views=json.dumps(params))
        os.replace(tmp, cache / f"{path.stem}-{key}.npz")
    return out


def assign_groups(videos: list[VideoViews], threshold: float = SAME_FOOTAGE) -> int:
    """Videos that share footage (a pair of clean frames with SSCD similarity >= threshold) get
    one group number; returns the number of groups."""
    parent = list(range(len(videos)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # frames with almost no picture (black, fades, flat colour) are alike in every video: ignored
    clean = [v.copy[0][v.grey[0].reshape(len(v.times), -1).std(axis=1) >= 8].astype(np.float32) for v in videos]
    for i in range(len(videos)):
        for j in range(i + 1, len(videos)):
            if find(i) == find(j) or not len(clean[i]) or not len(clean[j]):
                continue
            if float((clean[i] @ clean[j].T).max()) >= threshold:
                parent[find(j)] = find(i)
    roots = {}
    for i, v in enumerate(videos):
        v.group = roots.setdefault(find(i), len(roots))
    return len(roots)


# Batches ------------------------------------------------------------------------------------

@dataclass
class Window:
    video: int
    view: int
    steps: list[tuple[int, int, int]]  # (video, view, frame index) per step
    span: tuple[float, float]  # source time covered (of the copied part)


class Sampler:
    """Anchor/positive windows of footage (see the module docstring)."""

    def __init__(self, videos: list[VideoViews], *, fps: float, step: float = 1.0, min_steps: int = 3,
                 max_anchor: int = 15, max_query: int = 12, speed: tuple[float, float] = (0.8, 1.25),
                 foreign: float = 0.33):
        self.videos = videos
        self.fps = fps
        self.step = step
        self.min_steps = min_steps
        self.max_anchor = max_anchor
        self.max_query = max_query
        self.speed = speed
        self.foreign = foreign

    def _index(self, v: VideoViews, t: float) -> int:
        return int(np.clip(np.searchsorted(v.times, t - 1e-3), 0, len(v.times) - 1))

    def _run(self, vi: int, view: int, t0: float, n: int, rate: float) -> list[tuple[int, int, int]]:
        v = self.videos[vi]
        return [(vi, view, self._index(v, t0 + k * rate)) for k in range(n)]

    def pair(self, rng: np.random.Generator, vi: int) -> tuple[Window, Window]:
        v = self.videos[vi]
        V = v.copy.shape[0]
        dur = v.duration
        na = int(rng.integers(self.min_steps, self.max_anchor + 1))
        na = max(1, min(na, int(dur / self.step)))
        t0 = float(rng.uniform(0, max(0.0, dur - na * self.step)))
        a_view = 0 if rng.random() < 0.5 else int(rng.integers(V))
        anchor = Window(vi, a_view, self._run(vi, a_view, t0, na, self.step), (t0, t0 + na * self.step))
        # positive: another view, another speed, a part of the anchor's footage (maybe overhanging)
        p_view = int(rng.choice([x for x in range(V) if x != a_view]))
        speed = float(np.exp(rng.uniform(np.log(self.speed[0]), np.log(self.speed[1]))))
        rate = self.step * speed
        np_ = int(rng.integers(self.min_steps, self.max_query + 1))
        np_ = max(1, min(np_, int(dur / rate)))
        span = np_ * rate
        lo = max(0.0, t0 - 0.4 * span)  # at least ~60 % of the positive lies inside the anchor
        hi = min(dur - span, t0 + na * self.step - 0.6 * span)
        u0 = float(rng.uniform(lo, hi)) if hi > lo else float(np.clip(t0, 0, max(0.0, dur - span)))
        steps = self._run(vi, p_view, u0, np_, rate)
        if rng.random() < self.foreign and len(self.videos) > 1:
            others = [j for j, o in enumerate(self.videos) if o.group != v.group]
            if others:
                oj = int(rng.choice(others))
                o = self.videos[oj]
                nf = int(rng.integers(1, 4))
                ot = float(rng.uniform(0, max(0.0, o.duration - nf * rate)))
                extra = self._run(oj, int(rng.integers(o.copy.shape[0])), ot, nf, rate)
                steps = extra + steps if rng.random() < 0.5 else steps + extra
        return anchor, Window(vi, p_view, steps, (u0, u0 + span))

    def batch(self, rng: np.random.Generator, size: int) -> tuple[list[Window], list[Window]]:
        order: list[int] = []
        while len(order) < size:
            order.extend(rng.permutation(len(self.videos)).tolist())
        pairs = [self.pair(rng, vi) for vi in order[:size]]
        return [a for a, _ in pairs], [p for _, p in pairs]


def tensors(videos: list[VideoViews], windows: list[Window]):
    """(app (B, T, 512) float32, prev grey (B, T, G, G) uint8, grey (B, T, G, G), lengths)."""
    B, T = len(windows), max(len(w.steps) for w in windows)
    app = np.zeros((B, T, 512), np.float32)
    cur = np.zeros((B, T, GREY, GREY), np.uint8)
    prev = np.zeros((B, T, GREY, GREY), np.uint8)
    for b, w in enumerate(windows):
        for k, (vi, view, fi) in enumerate(w.steps):
            app[b, k] = videos[vi].copy[view, fi]
            cur[b, k] = videos[vi].grey[view, fi]
        n = len(w.steps)
        prev[b, 1:n] = cur[b, : n - 1]
        prev[b, 0] = cur[b, 0]
    app /= np.maximum(np.linalg.norm(app, axis=2, keepdims=True), 1e-12)
    return app, prev, cur, [len(w.steps) for w in windows]


def same_footage_mask(videos: list[VideoViews], anchors: list[Window]) -> np.ndarray:
    """(B, B) True where two different batch items show the same footage (not negatives)."""
    g = np.array([videos[w.video].group for w in anchors])
    m = g[:, None] == g[None, :]
    np.fill_diagonal(m, False)
    return m


def embed(net, videos, windows, device):
    import torch

    app, prev, cur, lengths = tensors(videos, windows)
    B, T = app.shape[:2]
    dev = torch.device(device)
    valid = np.concatenate([b * T + np.arange(n) for b, n in enumerate(lengths)])  # padding costs nothing
    feats = net.motion(torch.from_numpy(prev.reshape(B * T, GREY, GREY)[valid]).to(dev),
                       torch.from_numpy(cur.reshape(B * T, GREY, GREY)[valid]).to(dev))
    mot = feats.new_zeros((B * T, feats.shape[1]))
    mot = mot.index_copy(0, torch.from_numpy(valid).to(dev), feats).reshape(B, T, -1)
    return net(torch.from_numpy(app).to(dev), mot, lengths)


def mean_pool(videos, windows) -> np.ndarray:
    app, _, _, lengths = tensors(videos, windows)
    out = np.stack([app[i, :n].mean(0) for i, n in enumerate(lengths)])
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def info_nce(z1, z2, mask, tau: float):
    import torch
    import torch.nn.functional as F

    sim = z1 @ z2.T / tau
    sim = sim.masked_fill(torch.as_tensor(mask, device=sim.device), float("-inf"))
    target = torch.arange(len(z1), device=sim.device)
    return 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))


def top1(z1: np.ndarray, z2: np.ndarray, mask: np.ndarray) -> float:
    sim = z1 @ z2.T
    sim[mask] = -np.inf
    return float((sim.argmax(1) == np.arange(len(z1))).mean())


@dataclass
class Probe:
    name: str
    videos: list[VideoViews]
    batches: list[tuple[list[Window], list[Window], np.ndarray]]

    @classmethod
    def make(cls, name: str, videos: list[VideoViews], sampler_kw: dict, seed: int, n: int = 4, size: int = 32):
        if not videos:
            return None
        s = Sampler(videos, **sampler_kw)
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            a, p = s.batch(rng, min(size, max(2, len(videos) * 2)))
            out.append((a, p, same_footage_mask(videos, a)))
        return cls(name, videos, out)

    def score(self, net, device) -> tuple[float, float]:
        import torch

        net.eval()
        accs, base = [], []
        with torch.no_grad():
            for a, p, m in self.batches:
                z1 = embed(net, self.videos, a, device).cpu().numpy()
                z2 = embed(net, self.videos, p, device).cpu().numpy()
                accs.append(top1(z1, z2, m))
                base.append(top1(mean_pool(self.videos, a), mean_pool(self.videos, p), m))
        net.train()
        return float(np.mean(accs)), float(np.mean(base))


# Training -----------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from .device import cpu_threads

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": cpu_threads(), "gpu": gpu, "torch": str(torch.__version__), "python": platform.python_version()}


def train(
    videos: list[VideoViews],
    *,
    epochs: int,
    batch: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    tau: float = 0.07,
    fps: float = 4.0,
    step: float = 1.0,
    seed: int = 0,
    device: str = "cpu",
    windows_per_epoch: int | None = None,
    holdout: list[VideoViews] | None = None,
    log_fn=print,
    max_steps: int | None = None,
):
    """Train a fresh network on precomputed ``videos``; returns (net, history)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_network().to(torch.device(device))
    net.train()
    kw = {"fps": fps, "step": step}
    sampler = Sampler(videos, **kw)
    size = min(batch, max(2, 2 * len(videos)))
    if windows_per_epoch is None:  # as many anchor windows as the footage holds 9-s windows (the mean anchor)
        windows_per_epoch = max(size, int(sum(v.duration for v in videos) / 9))
    per_epoch = max(1, math.ceil(windows_per_epoch / size))
    total = epochs * per_epoch if max_steps is None else min(max_steps, epochs * per_epoch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(i, total) / total)))
    probes = [p for p in (Probe.make("train", videos, kw, seed + 1),
                          Probe.make("holdout", holdout or [], kw, seed + 2)) if p is not None]
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    it = 0
    for epoch in range(1, epochs + 1):
        losses = []
        for _ in range(per_epoch):
            if it >= total:
                break
            a, p = sampler.batch(rng, size)
            mask = same_footage_mask(videos, a)
            loss = info_nce(embed(net, videos, a, device), embed(net, videos, p, device), mask, tau)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            it += 1
        if not losses:
            break
        row: dict[str, Any] = {"epoch": epoch, "steps": it, "loss": float(np.mean(losses)),
                               "seconds": round(time.perf_counter() - t0, 1)}
        if epoch == 1 or epoch == epochs or epoch % max(1, epochs // 10) == 0 or it >= total:
            for pr in probes:
                acc, base = pr.score(net, device)
                row[f"{pr.name}_top1"] = round(acc, 4)
                row[f"{pr.name}_top1_mean_pooling"] = round(base, 4)
            log_fn(json.dumps(row))
        history.append(row)
    net.eval()
    return net, history


# Command line -------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folders", nargs="+", help="video files or folders (recursive) to train on")
    p.add_argument("--out", required=True, type=Path, help="where to write the weights (.pt)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch", type=int, default=32, help="windows per batch (each with its positive)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--tau", type=float, default=0.07, help="InfoNCE temperature")
    p.add_argument("--views", type=int, default=6, help="views per video (view 0 is the clean one)")
    p.add_argument("--fps", type=float, default=4.0, help="frames per second precomputed per video")
    p.add_argument("--holdout", nargs="*", default=[], metavar="NAME",
                   help="file names (or stems) not trained on; reported as a held-out probe")
    p.add_argument("--cache", type=Path, default=None,
                   help="folder for precomputed views (default: <out>.cache next to --out)")
    p.add_argument("--seed", type=int, default=0)


def run_cli(settings, args) -> int:
    from vidsearch.ingest.discover import discover

    from .device import batch_for, configure_torch_threads, pick_device
    from .sscd import CopyDescriptor

    if "torch" not in sys.modules:
        # idle OpenMP threads spin by default; on a shared 2-core machine (load 15) a training step
        # took 3-6 s spinning and 0.5-0.8 s passive. Read once, when torch loads its OpenMP.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.views < 2:
        raise ValueError("--views must be at least 2 (a clean view and an edited one)")
    if args.epochs < 1:
        raise ValueError("--epochs must be at least 1")
    device = pick_device(settings.device)
    configure_torch_threads()
    cache = args.cache or args.out.with_name(args.out.name + ".cache")
    copy = CopyDescriptor(settings.copy_model, device=device, batch_size=batch_for(settings, device),
                          short_side=settings.frame_size)
    held = set(args.holdout)
    t0 = time.perf_counter()
    train_set, held_set = [], []
    for path in discover(args.folders):
        v = prepare_video(path, copy=copy, fps=args.fps, views=args.views, seed=args.seed,
                          short_side=settings.frame_size, cache=cache)
        if v is None:
            continue
        (held_set if (path.name in held or path.stem in held) else train_set).append(v)
        print(f"prepared {path.name}: {len(v.times)} frames x {args.views} views", file=sys.stderr)
    if len(train_set) < 2:
        print("vidsearch: error: need at least two decodable videos to train on", file=sys.stderr)
        return 2
    groups = assign_groups(train_set + held_set)
    prep = time.perf_counter() - t0
    print(f"precomputed {len(train_set)} training and {len(held_set)} held-out videos ({groups} footage groups) "
          f"in {prep:.0f} s", file=sys.stderr)
    step = 1.0 / settings.sample_fps
    t1 = time.perf_counter()
    net, history = train(train_set, epochs=args.epochs, batch=args.batch, lr=args.lr, weight_decay=args.weight_decay,
                         tau=args.tau, fps=args.fps, step=step, seed=args.seed, device=device, holdout=held_set,
                         log_fn=lambda s: print(s, file=sys.stderr))
    took = time.perf_counter() - t1
    meta = {
        "copy_model": settings.copy_model,
        "step_seconds": step,
        "frame_size": settings.frame_size,
        "trained_on": sorted(v.name for v in train_set),
        "held_out": sorted(v.name for v in held_set),
        "hyper": {k: getattr(args, k) for k in ("epochs", "batch", "lr", "weight_decay", "tau", "views", "fps", "seed")},
        "steps": history[-1]["steps"] if history else 0,
        "final": history[-1] if history else {},
        "precompute_seconds": round(prep, 1),
        "train_seconds": round(took, 1),
        "device": device,
        "machine": machine(),
        "command": command_line(args),
        "date": time.strftime("%Y-%m-%d"),
    }
    save_weights(net, args.out, meta)
    size = args.out.stat().st_size
    print(json.dumps({"out": str(args.out), "bytes": size, "train_seconds": round(took, 1),
                      "precompute_seconds": round(prep, 1), "final": meta["final"]}))
    return 0


def command_line(args) -> str:
    """The ``vidsearch train-temporal`` command that reproduces ``args`` (folders as given)."""
    parts = ["vidsearch", "train-temporal", *map(str, args.folders), "--out", str(args.out)]
    for k in ("epochs", "batch", "lr", "weight_decay", "tau", "views", "fps", "seed"):
        parts += ["--" + k.replace("_", "-"), str(getattr(args, k))]
    if args.holdout:
        parts += ["--holdout", *args.holdout]
    return " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    from vidsearch.config import Settings

    p = argparse.ArgumentParser(prog="python -m vidsearch.models.train_temporal")
    add_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_cli(Settings.from_env(), args)


if __name__ == "__main__":
    sys.exit(main())
