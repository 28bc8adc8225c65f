"""A pluggable CLIP-family (joint image-text) model, for users who can provide one.

No such model ships in any package that installs here, so vidsearch's own text search is built
from the concept space, OCR and detectors; when ``VIDSEARCH_JOINT_MODEL`` names a model, ingestion
also stores each keyframe's image embedding as the named vector ``"joint"``, text queries are
embedded by the model's text tower and searched there too (fused with the other signals), and
``search --image ... --semantic`` finds semantically similar pictures with it.

``VIDSEARCH_JOINT_MODEL`` is

- a local folder saved by ``transformers`` (``save_pretrained`` of a ``CLIPModel``, ``SiglipModel``
  or any model with ``get_image_features``/``get_text_features``, with its tokenizer and image
  processor), or by ``open_clip`` (``open_clip_config.json`` + weights, the Hugging Face hub layout);
- or, on a machine that can download, a hub id (``openai/clip-vit-base-patch32``), or for
  open_clip ``hf-hub:ORG/NAME`` or ``ARCH:PRETRAINED`` (``ViT-B-32:laion2b_s34b_b79k``).

``VIDSEARCH_JOINT_BACKEND`` (``auto``, ``open_clip``, ``transformers``) picks the library; ``auto``
takes open_clip for a folder with ``open_clip_config.json`` and for the open_clip id forms, else
transformers. The loaded model is shared by every instance in the process.
"""
from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import numpy as np

from . import ModelUnavailable, as_rgb_uint8, batches, l2_normalise

BACKENDS = ("auto", "open_clip", "transformers")
_lock = threading.Lock()


def choose_backend(spec: str, backend: str = "auto") -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend != "auto":
        return backend
    path = Path(spec).expanduser()
    if path.is_dir():
        return "open_clip" if (path / "open_clip_config.json").is_file() else "transformers"
    if spec.startswith("hf-hub:") or (":" in spec and "/" not in spec.split(":", 1)[0]):
        return "open_clip"
    return "transformers"


def _features(out):
    """transformers >= 5 may return a model output instead of a tensor from get_*_features."""
    if hasattr(out, "shape"):
        return out
    for name in ("image_embeds", "text_embeds", "pooler_output"):
        value = getattr(out, name, None)
        if value is not None:
            return value
    raise TypeError(f"cannot find the embedding in {type(out).__name__}")


class _TransformersBackend:
    def __init__(self, spec: str, device: str):
        try:
            import torch
            from transformers import AutoImageProcessor, AutoModel, AutoTokenizer
        except ImportError as exc:
            raise ModelUnavailable("transformers", "pip install transformers", "a CLIP-family model", str(exc)) from None
        local = Path(spec).expanduser().is_dir()
        kw = {"local_files_only": True} if local else {}
        src = str(Path(spec).expanduser()) if local else spec
        self.torch = torch
        self.device = torch.device("cuda" if device == "cuda" else "cpu")
        self.model = AutoModel.from_pretrained(src, **kw).eval().to(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(src, **kw)
        self.processor = AutoImageProcessor.from_pretrained(src, **kw)
        cfg = self.model.config
        self.max_length = int(getattr(getattr(cfg, "text_config", cfg), "max_position_embeddings", 77) or 77)
        with torch.inference_mode():
            probe = self.encode_texts(["a photo"])
        self.dim = int(probe.shape[1])

    def encode_images(self, images: list[np.ndarray]) -> np.ndarray:
        inputs = self.processor(images=list(images), return_tensors="pt")
        with self.torch.inference_mode():
            feats = _features(self.model.get_image_features(pixel_values=inputs["pixel_values"].to(self.device)))
        return feats.float().cpu().numpy()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        tok = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        tok = {k: v.to(self.device) for k, v in tok.items() if k in ("input_ids", "attention_mask")}
        with self.torch.inference_mode():
            feats = _features(self.model.get_text_features(**tok))
        return feats.float().cpu().numpy()


class _OpenClipBackend:
    def __init__(self, spec: str, device: str):
        try:
            import open_clip
            import torch
        except ImportError as exc:
            raise ModelUnavailable("open-clip-torch", "pip install open-clip-torch", "an open_clip model", str(exc)) from None
        from PIL import Image

        self.torch, self.Image = torch, Image
        self.device = torch.device("cuda" if device == "cuda" else "cpu")
        path = Path(spec).expanduser()
        if path.is_dir():
            cfg = json.loads((path / "open_clip_config.json").read_text())
            weights = next((p for p in (path / "open_clip_model.safetensors", path / "open_clip_pytorch_model.bin")
                            if p.is_file()), None)
            name = f"vidsearch-local-{abs(hash(str(path)))}"
            from open_clip import factory

            factory._MODEL_CONFIGS[name] = cfg["model_cfg"]  # register the folder's architecture
            pre = cfg.get("preprocess_cfg", {})
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=str(weights) if weights else None,
                image_mean=pre.get("mean"), image_std=pre.get("std"))
            tokenizer = open_clip.get_tokenizer(name)
        else:
            if spec.startswith("hf-hub:"):
                model, _, preprocess = open_clip.create_model_and_transforms(spec)
                tokenizer = open_clip.get_tokenizer(spec)
            else:
                arch, _, tag = spec.partition(":")
                model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=tag or None)
                tokenizer = open_clip.get_tokenizer(arch)
        self.model = model.eval().to(self.device)
        self.preprocess, self.tokenizer = preprocess, tokenizer
        self.dim = int(self.encode_texts(["a photo"]).shape[1])

    def encode_images(self, images: list[np.ndarray]) -> np.ndarray:
        batch = self.torch.stack([self.preprocess(self.Image.fromarray(img)) for img in images]).to(self.device)
        with self.torch.inference_mode():
            return self.model.encode_image(batch).float().cpu().numpy()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        with self.torch.inference_mode():
            return self.model.encode_text(self.tokenizer(list(texts)).to(self.device)).float().cpu().numpy()


@functools.lru_cache(maxsize=None)
def _load(spec: str, backend: str, device: str):
    if device == "cpu":
        from .device import configure_torch_threads

        configure_torch_threads()
    from .text import quiet_progress

    quiet_progress()
    return _OpenClipBackend(spec, device) if backend == "open_clip" else _TransformersBackend(spec, device)


class JointModel:
    """``encode_images(images) -> (N, dim)`` and ``encode_texts(texts) -> (N, dim)``, float32,
    L2-normalised, in one space (cosine similarity compares a text with a picture)."""

    def __init__(self, spec: str, *, backend: str = "auto", device: str = "cpu", batch_size: int = 32):
        from .device import pick_device

        self.spec = str(spec)
        self.backend = choose_backend(self.spec, backend)
        self.device = pick_device(device)
        self.batch_size = int(batch_size)
        with _lock:
            self._impl = _load(self.spec, self.backend, self.device)
        self.dim = self._impl.dim
        self.name = f"{self.backend}:{Path(self.spec).name or self.spec}"

    def __repr__(self) -> str:
        return f"JointModel({self.spec!r}, backend={self.backend!r}, dim={self.dim})"

    def encode_images(self, images) -> np.ndarray:
        images = [as_rgb_uint8(im) for im in images]
        if not images:
            return np.zeros((0, self.dim), np.float32)
        parts = [self._impl.encode_images(images[s]) for s in batches(len(images), self.batch_size)]
        return l2_normalise(np.concatenate(parts))

    def encode_texts(self, texts) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(self._impl.encode_texts(texts))


def joint_model(settings) -> JointModel | None:
    """The model ``settings.joint_model`` names (loaded once per process), or None."""
    if not settings.joint_model:
        return None
    from .device import batch_for, pick_device

    return JointModel(settings.joint_model, backend=settings.joint_backend, device=settings.device,
                      batch_size=batch_for(settings, pick_device(settings.device)))
