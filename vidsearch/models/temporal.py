"""The two-stream temporal segment encoder: a segment (or a query clip) -> one 512-d vector.

Streams, one step per sampled frame (``VIDSEARCH_SAMPLE_FPS``, 1 frame/s by default):

* appearance: the frame's SSCD copy descriptor (512-d, frozen, computed at ingest anyway; a
  sample that the segmenter did not embed because it is nearly identical to the last keyframe
  takes that keyframe's descriptor);
* motion: a small CNN over the difference between the frame and the previous sample, both as
  64 x 64 grey images (:func:`motion_frame`). Grey, because grayscale copies must match; 64 px,
  because at 1 frame/s the difference says *where and how much* the picture changed, not fine
  texture (SSCD has that), and 64 x 64 keeps the per-step cost at ~3 MFLOP, nothing next to
  SSCD. The difference is divided by its RMS (contrast changes scale it, brightness offsets
  cancel), and log(RMS) is kept as one more feature. The first step of a segment has no
  predecessor: its difference is zero.

A bidirectional LSTM runs over ``[proj(appearance), motion]``; attention weights from its states
pool the appearance descriptors over time, and a linear head adds a correction computed from the
pooled states::

    w = softmax_t(v . h_t)          out = l2norm( sum_t w_t a_t  +  W sum_t w_t h_t )

``v`` and ``W`` start at zero, so the untrained network *is* mean pooling of the copy
descriptors (uniform weights, no correction): training can only move it away from that baseline
where the contrastive loss says so, and the output stays in the SSCD space (512-d, so that a
segment's vector is comparable with the frame descriptors too).

Weights: ``vidsearch/models/weights/temporal_v1.pt`` (recipe: ``docs/temporal.md``), trained on
``distilled`` SSCD descriptors at 1 frame/s; ``VIDSEARCH_TEMPORAL_WEIGHTS`` points elsewhere
(``vidsearch train-temporal`` writes such a file).
"""
from __future__ import annotations

import functools
import importlib.resources
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import ModelUnavailable, as_rgb_uint8

log = logging.getLogger(__name__)

GREY = 64  # side of the grey motion frames
APP_DIM = 512  # SSCD
FORMAT = "vidsearch-temporal"
DEFAULT_WEIGHTS = "temporal_v1.pt"
MAX_STEPS = 256  # steps an open segment keeps before it halves its time resolution
DEFAULT_CONFIG = {"app_dim": APP_DIM, "proj_dim": 128, "motion_dim": 64, "hidden": 128, "grey": GREY}


class WeightsUnavailable(ModelUnavailable):
    """The temporal encoder's weights file is missing or is not one."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.package = "vidsearch"
        self.install = "vidsearch train-temporal FOLDER --out weights.pt"
        RuntimeError.__init__(
            self,
            f"the temporal segment encoder cannot load its weights {path}: {reason}; reinstall vidsearch, "
            f"train weights with `{self.install}` and set VIDSEARCH_TEMPORAL_WEIGHTS=weights.pt, "
            f"or set VIDSEARCH_SEGMENT_ENCODER=mean",
        )


def default_weights_path() -> Path:
    """The weights committed with the package (``vidsearch/models/weights/temporal_v1.pt``)."""
    return Path(str(importlib.resources.files("vidsearch.models") / "weights" / DEFAULT_WEIGHTS))


def motion_frame(image) -> np.ndarray:
    """A frame as the motion stream sees it: 64 x 64 grey uint8 (squashed, antialiased)."""
    from PIL import Image

    img = Image.fromarray(as_rgb_uint8(image)).convert("L")
    return np.asarray(img.resize((GREY, GREY), Image.BILINEAR), dtype=np.uint8)


# The network ------------------------------------------------------------------------------

def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ModelUnavailable("torch", "scripts/install (or pip install torch)", "the temporal encoder", str(exc)) from None
    return torch


def build_network(config: dict | None = None):
    """A fresh :class:`TemporalNet` (random CNN/LSTM, zero attention and head: mean pooling)."""
    torch = _torch()
    nn = torch.nn
    cfg = {**DEFAULT_CONFIG, **(config or {})}

    class TemporalNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = cfg
            m = cfg["motion_dim"]
            self.motion_cnn = nn.Sequential(
                nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(inplace=True),  # 32
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(inplace=True),  # 16
                nn.Conv2d(32, m, 3, stride=2, padding=1), nn.ReLU(inplace=True),  # 8
                nn.Conv2d(m, m, 3, stride=2, padding=1), nn.ReLU(inplace=True),  # 4
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            )
            self.app_proj = nn.Linear(cfg["app_dim"], cfg["proj_dim"])
            self.lstm = nn.LSTM(cfg["proj_dim"] + m + 1, cfg["hidden"], batch_first=True, bidirectional=True)
            self.attn = nn.Linear(2 * cfg["hidden"], 1)
            self.head = nn.Linear(2 * cfg["hidden"], cfg["app_dim"], bias=False)
            for p in (self.attn.weight, self.attn.bias, self.head.weight):
                nn.init.zeros_(p)

        @property
        def motion_features_dim(self) -> int:
            return self.config["motion_dim"] + 1

        def motion(self, prev, cur):
            """(N, G, G) grey frames (uint8 or float 0..255) -> (N, motion_dim + 1)."""
            d = (cur.float() - prev.float()) / 255.0
            rms = d.pow(2).mean(dim=(1, 2)).sqrt()
            x = d / rms.clamp_min(0.02)[:, None, None]
            f = self.motion_cnn(x[:, None])
            return torch.cat([f, ((rms + 1e-3).log() + 3.0)[:, None] / 2.0], dim=1)

        def forward(self, app, mot, lengths):
            """app (B, T, 512) unit rows, mot (B, T, motion_dim + 1), lengths (B,) -> (B, 512) unit."""
            B, T, _ = app.shape
            x = torch.cat([self.app_proj(app), mot], dim=2)
            lengths_cpu = torch.as_tensor(lengths, dtype=torch.int64).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths_cpu, batch_first=True, enforce_sorted=False)
            h, _ = self.lstm(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=T)
            mask = torch.arange(T, device=app.device)[None, :] < lengths_cpu.to(app.device)[:, None]
            logits = self.attn(h).squeeze(2).masked_fill(~mask, float("-inf"))
            w = torch.softmax(logits, dim=1)
            pooled_app = torch.bmm(w[:, None, :], app).squeeze(1)
            pooled_h = torch.bmm(w[:, None, :], h).squeeze(1)
            out = pooled_app + self.head(pooled_h)
            return torch.nn.functional.normalize(out, dim=1)

    return TemporalNet()


def save_weights(net, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``net`` with its config and ``meta`` (recipe, data, copy model) to ``path``."""
    torch = _torch()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    meta = json.loads(json.dumps(meta, default=str))  # plain types only: loading uses weights_only=True
    torch.save({"format": FORMAT, "version": 1, "config": dict(net.config), "meta": meta, "state_dict": state}, path)
    return path


def load_network(path: str | Path, device: str = "cpu"):
    """(network in eval mode on ``device``, meta) from a weights file; :class:`WeightsUnavailable`
    when the file is missing or not a temporal encoder's."""
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailable(path, "no such file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailable(path, f"unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise WeightsUnavailable(path, f"not a {FORMAT} weights file")
    net = build_network(blob.get("config"))
    try:
        net.load_state_dict(blob["state_dict"])
    except Exception as exc:
        raise WeightsUnavailable(path, f"does not fit the network ({exc})") from None
    net.eval()
    net.requires_grad_(False)  # inference only
    return net.to(torch.device(device)), dict(blob.get("meta") or {})


# Inference --------------------------------------------------------------------------------

class TemporalEncoder:
    """``TemporalEncoder(weights, device, copy_model)``: segments and clips -> 512-d unit vectors.

    ``copy_model`` is the SSCD variant that produces the appearance descriptors; weights trained
    on another variant are refused (the descriptors would not mean the same)."""

    dim = APP_DIM

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", copy_model: str = "distilled"):
        from .device import pick_device

        self.path = Path(weights) if weights else default_weights_path()
        self.device = pick_device(device)
        self.net, self.meta = _cached_network(str(self.path.resolve()), self.device)
        trained = self.meta.get("copy_model", "distilled")
        if trained != copy_model:
            raise WeightsUnavailable(
                self.path, f"it was trained on '{trained}' SSCD descriptors, and VIDSEARCH_COPY_MODEL is '{copy_model}'"
            )
        self.copy_model = copy_model
        if self.device == "cpu":
            # A call is a few MFLOP in many small ops (LSTM steps): OpenMP hand-offs cost more than
            # they bring. Measured on 2 busy cores (load 14), one 30-step segment: 35 ms with one
            # thread, 630 ms with two. torch runs no other model in vidsearch (EfficientNet runs
            # on ONNX Runtime), so the process-wide setting is this encoder's alone.
            _torch().set_num_threads(1)

    def __repr__(self) -> str:
        return f"TemporalEncoder({str(self.path)!r}, device={self.device!r})"

    @property
    def motion_dim(self) -> int:
        return self.net.motion_features_dim

    def motion_features(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """(N, 64, 64) uint8 previous and current grey frames -> (N, motion_dim) float32."""
        torch = _torch()
        if len(cur) == 0:
            return np.zeros((0, self.motion_dim), np.float32)
        dev = torch.device(self.device)
        with torch.inference_mode():
            p = torch.from_numpy(np.ascontiguousarray(prev)).to(dev)
            c = torch.from_numpy(np.ascontiguousarray(cur)).to(dev)
            return self.net.motion(p, c).float().cpu().numpy()

    def encode_steps(self, sequences: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """``[(appearance (T, 512), motion (T, motion_dim)), ...]`` -> (N, 512) unit rows."""
        torch = _torch()
        if not sequences:
            return np.zeros((0, self.dim), np.float32)
        lengths = [len(a) for a, _ in sequences]
        if min(lengths) < 1:
            raise ValueError("every sequence needs at least one step")
        T = max(lengths)
        app = np.zeros((len(sequences), T, self.dim), np.float32)
        mot = np.zeros((len(sequences), T, self.motion_dim), np.float32)
        for i, (a, m) in enumerate(sequences):
            if len(a) != len(m):
                raise ValueError(f"sequence {i}: {len(a)} appearance rows but {len(m)} motion rows")
            app[i, : len(a)] = a
            mot[i, : len(m)] = m
        dev = torch.device(self.device)
        with torch.inference_mode():
            out = self.net(torch.from_numpy(app).to(dev), torch.from_numpy(mot).to(dev), lengths)
        return out.float().cpu().numpy()

    @property
    def step_seconds(self) -> float:
        """The spacing of the steps the weights were trained on (1 / the index's sample rate)."""
        return float(self.meta.get("step_seconds", 1.0))

    def encode_clip(self, images: Sequence[np.ndarray], copy: np.ndarray, times: Sequence[float] | None = None,
                    grey: np.ndarray | None = None) -> np.ndarray:
        """A query clip -> (512,), comparable with the stored ``temporal`` segment vectors.

        ``images``: its sampled RGB frames (or ``grey``: their :func:`motion_frame`, then
        ``images`` may be None), ``copy``: their SSCD descriptors (T, 512). Frames sampled more
        densely than :attr:`step_seconds` (give their ``times``) are thinned to one per step, as
        ingestion samples them."""
        n = len(copy)
        if grey is None:
            if images is None or len(images) != n:
                raise ValueError("need one image (or grey frame) per copy descriptor")
            grey = np.stack([motion_frame(im) for im in images]) if n else np.zeros((0, GREY, GREY), np.uint8)
        if n == 0 or len(grey) != n:
            raise ValueError(f"need one copy descriptor per frame and at least one frame ({len(grey)}, {n})")
        if times is not None:
            keep = step_indices(times, self.step_seconds)
            copy, grey = np.asarray(copy)[keep], np.asarray(grey)[keep]
        prev = np.concatenate([grey[:1], grey[:-1]])
        return self.encode_steps([(np.asarray(copy, np.float32), self.motion_features(prev, grey))])[0]


def step_indices(times: Sequence[float], step: float) -> list[int]:
    """Indices of the samples nearest to ``t0, t0 + step, ...`` (each used once, in order)."""
    t = np.asarray(times, np.float64)
    if t.size == 0:
        return []
    grid = np.arange(t[0], t[-1] + step / 2, step)
    idx = np.clip(np.searchsorted(t, grid), 0, t.size - 1)
    left = np.clip(idx - 1, 0, t.size - 1)
    idx = np.where(np.abs(t[left] - grid) <= np.abs(t[idx] - grid), left, idx)
    return sorted(set(int(i) for i in idx))


@functools.lru_cache(maxsize=None)
def _cached_network(path: str, device: str):
    return load_network(path, device)


# Ingest-side bookkeeping ------------------------------------------------------------------

@dataclass
class _Track:
    keyframes: list = field(default_factory=list)  # the Keyframe each recorded step stands for
    motion: list = field(default_factory=list)  # per recorded step: (motion_dim,) or None until flushed
    pushed: int = 0
    stride: int = 1


class SegmentSteps:
    """The temporal encoder's inputs for the open segments of one video, fed in time order.

    Each sampled frame is one step: the keyframe that stands for it (its ``copy`` descriptor may be
    filled in later, before the segment is encoded) and the motion feature of its difference to
    the previous sample, computed in batches by :meth:`flush`, so only the previous grey frame and
    the current chunk's are held. A segment keeps at most ``2 * max_steps`` steps: beyond that it
    keeps every other step and records every ``stride``-th from then on (uniform in time)."""

    def __init__(self, encoder: TemporalEncoder, max_steps: int = MAX_STEPS):
        self.encoder = encoder
        self.max_steps = max(1, int(max_steps))
        self._tracks: dict[int, _Track] = {}
        self._prev: np.ndarray | None = None
        self._pending: list[tuple[_Track, int, np.ndarray, np.ndarray]] = []

    def push(self, segment_index: int, keyframe, image, opened: bool) -> None:
        grey = motion_frame(image)
        prev = grey if opened or self._prev is None else self._prev
        self._prev = grey
        track = self._tracks.setdefault(segment_index, _Track())
        if track.pushed % track.stride == 0:
            track.keyframes.append(keyframe)
            track.motion.append(None)
            self._pending.append((track, len(track.motion) - 1, prev, grey))
        track.pushed += 1

    def flush(self) -> None:
        """Compute the motion features of the steps pushed since the last flush."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        feats = self.encoder.motion_features(np.stack([p for _, _, p, _ in pending]), np.stack([c for _, _, _, c in pending]))
        for (track, i, _, _), f in zip(pending, feats):
            track.motion[i] = f
        for track in {id(t): t for t, _, _, _ in pending}.values():
            if len(track.motion) >= 2 * self.max_steps:
                track.keyframes, track.motion = track.keyframes[::2], track.motion[::2]
                track.stride *= 2

    def close(self, segment_indexes: Sequence[int]) -> np.ndarray:
        """Encode and forget these segments: (len, 512) unit rows."""
        self.flush()
        seqs = []
        for index in segment_indexes:
            track = self._tracks.pop(index, None)
            if track is None or not track.keyframes:
                raise ValueError(f"segment {index} has no recorded steps")
            app = np.stack([np.asarray(k.copy, np.float32) for k in track.keyframes])
            seqs.append((app, np.stack(track.motion)))
        return self.encoder.encode_steps(seqs)

    @property
    def open_steps(self) -> int:
        return sum(len(t.keyframes) for t in self._tracks.values())
