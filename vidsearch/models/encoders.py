"""The set of frame encoders an index uses, built from the settings and loaded on first use.

Ingest and query must embed with the very same models, so both get them from here.
"""
from __future__ import annotations

import threading

import numpy as np

from vidsearch.config import Settings


class Encoders:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._copy = None
        self._semantic = None

    @property
    def copy(self):
        """The copy-detection descriptor (SSCD), loaded on first use."""
        with self._lock:
            if self._copy is None:
                from vidsearch.models.device import pick_device
                from vidsearch.models.sscd import CopyDescriptor

                self._copy = CopyDescriptor(self.settings.copy_model, device=pick_device(self.settings.device),
                                            batch_size=self.settings.batch_size)
            return self._copy

    @property
    def semantic(self):
        """The semantic embedding (EfficientNet-Lite0), or None when VIDSEARCH_SEMANTIC=0."""
        if not self.settings.semantic:
            return None
        with self._lock:
            if self._semantic is None:
                from vidsearch.models.device import pick_device
                from vidsearch.models.efficientnet import SemanticEmbedder

                self._semantic = SemanticEmbedder(device=pick_device(self.settings.device),
                                                  batch_size=self.settings.batch_size)
            return self._semantic

    def embed(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Named vectors for a batch of frames: ``{"copy": (N,512), "semantic": (N,1280)}``."""
        out = {"copy": self.copy.embed(images)}
        if self.semantic is not None:
            out["semantic"] = self.semantic.embed(images)
        return out
