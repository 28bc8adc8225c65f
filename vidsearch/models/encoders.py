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
        self._temporal = None
        self._text_lock = threading.RLock()  # text search models (the concept table needs the text encoder)
        self._text = self._concepts = self._ocr = self._detectors = self._joint = None

    def _placement(self) -> tuple[str, int]:
        """(device, frames per batch) for the frame encoders."""
        from vidsearch.models.device import batch_for, pick_device

        device = pick_device(self.settings.device)
        return device, batch_for(self.settings, device)

    @property
    def copy(self):
        """The copy-detection descriptor (SSCD), loaded on first use."""
        with self._lock:
            if self._copy is None:
                from vidsearch.models.sscd import CopyDescriptor

                device, batch = self._placement()
                self._copy = CopyDescriptor(self.settings.copy_model, device=device, batch_size=batch)
            return self._copy

    @property
    def semantic(self):
        """The semantic embedding (EfficientNet-Lite0), or None when VIDSEARCH_SEMANTIC=0."""
        if not self.settings.semantic:
            return None
        with self._lock:
            if self._semantic is None:
                from vidsearch.models.efficientnet import SemanticEmbedder

                device, batch = self._placement()
                self._semantic = SemanticEmbedder(device=device, batch_size=batch, int8=self.settings.semantic_int8)
            return self._semantic

    @property
    def temporal(self):
        """The temporal segment encoder (:mod:`vidsearch.models.temporal`), or None when
        VIDSEARCH_SEGMENT_ENCODER=mean."""
        if self.settings.segment_encoder != "temporal":
            return None
        with self._lock:
            if self._temporal is None:
                from vidsearch.models.device import pick_device
                from vidsearch.models.temporal import TemporalEncoder

                self._temporal = TemporalEncoder(self.settings.temporal_weights, device=pick_device(self.settings.device),
                                                 copy_model=self.settings.copy_model)
            return self._temporal

    # Text search ------------------------------------------------------------------------------
    @property
    def text(self):
        """The text encoder (MiniLM), loaded on first use: text queries and the concept table."""
        with self._text_lock:
            if self._text is None:
                from vidsearch.models.device import pick_device
                from vidsearch.models.text import TextEncoder

                self._text = TextEncoder(pick_device(self.settings.device))
            return self._text

    @property
    def concepts(self):
        """The concept space (:mod:`vidsearch.models.concepts`), or None when VIDSEARCH_CONCEPTS=0."""
        if not self.settings.concepts:
            return None
        with self._text_lock:
            if self._concepts is None:
                from vidsearch.models.concepts import ConceptSpace

                self._concepts = ConceptSpace(lambda: self.text, top_k=self.settings.concept_top_k)
            return self._concepts

    @property
    def ocr(self):
        """The text reader of VIDSEARCH_OCR_ENGINE (Tesseract or PP-OCR), or None when VIDSEARCH_OCR=0
        or the engine is not installed (then a warning says what to install)."""
        if not self.settings.ocr:
            return None
        with self._text_lock:
            if self._ocr is None:
                from vidsearch.models import ModelUnavailable

                try:
                    if self.settings.ocr_engine == "ppocr":
                        from vidsearch.models.device import pick_device
                        from vidsearch.models.ppocr import PPOCRReader

                        self._ocr = PPOCRReader(pick_device(self.settings.device))
                    else:
                        from vidsearch.models.ocr import TesseractReader

                        self._ocr = TesseractReader(retry_inverted=self.settings.ocr_retry_inverted,
                                                    in_process=self.settings.ocr_in_process)
                except ModelUnavailable as exc:  # not installed: index without on-screen text
                    import logging

                    logging.getLogger(__name__).warning("on-screen text is not indexed: %s", exc)
                    self._ocr = False
            return self._ocr or None

    @property
    def detectors(self) -> list:
        """The people/face detectors VIDSEARCH_DETECTORS names (``colour`` is not a model)."""
        with self._text_lock:
            if self._detectors is None:
                from vidsearch.models.detectors import FaceDetector, PeopleDetector

                kinds = {"person": PeopleDetector, "face": FaceDetector}
                self._detectors = [kinds[d]() for d in self.settings.detectors if d in kinds]
            return self._detectors

    @property
    def joint(self):
        """The CLIP-family model VIDSEARCH_JOINT_MODEL names, or None."""
        if not self.settings.joint_model:
            return None
        with self._text_lock:
            if self._joint is None:
                from vidsearch.models.joint import joint_model

                self._joint = joint_model(self.settings)
            return self._joint

    def warm_up(self) -> None:
        """Load every model ingestion and search will use, and run each once (a first run is slow),
        so that the first video or query of a server or worker does not pay for it while others wait."""
        image = np.zeros((224, 224, 3), np.uint8)
        self.analyse([image])
        if self.concepts is not None or self.joint is not None:
            self.text.encode(["warm up"])
        self.ocr  # noqa: B018  (finds tesseract, or logs once that on-screen text is not indexed)

    def analyse(self, images: list[np.ndarray], times: dict[str, float] | None = None):
        """What ingestion stores for a batch of keyframes: named vectors (those of :meth:`embed`,
        plus ``"concept"`` from the same EfficientNet pass and ``"joint"`` when configured) and
        one extra payload dict per frame (``concepts``: the top concepts of the mix; detector
        scores; ``colours``). ``times`` accumulates seconds per step."""
        import time

        clock = time.perf_counter
        t = {} if times is None else times
        payloads: list[dict] = [{} for _ in images]
        t0 = clock()
        out = {"copy": self.copy.embed(images)}
        concepts = self.concepts if self.semantic is not None else None
        if self.semantic is not None and concepts is None:
            out["semantic"] = self.semantic.embed(images)
        elif concepts is not None:
            out["semantic"], logits = self.semantic.embed_with_logits(images)
            t1 = clock()
            t["embed"] = t.get("embed", 0.0) + t1 - t0
            scores = {}
            for det in self.detectors:
                scores[det.name], _ = det.detect(images)
                for i, v in enumerate(scores[det.name]):
                    if v > 0:
                        payloads[i][det.name] = round(float(v), 3)
            t2 = clock()
            t["detect"] = t.get("detect", 0.0) + t2 - t1
            fc = concepts.frames(logits, scores)
            out["concept"] = fc.vectors
            for i, top in enumerate(fc.top):
                payloads[i]["concepts"] = [[j, round(w, 4)] for j, w in top[:5]]
            t0 = clock()
            t["concept"] = t.get("concept", 0.0) + t0 - t2
        if "colour" in self.settings.detectors:
            from vidsearch.models.detectors import colour_names

            t1 = clock()
            for i, img in enumerate(images):
                payloads[i]["colours"] = colour_names(img)
            t["detect"] = t.get("detect", 0.0) + clock() - t1
            t0 = clock()
        if self.joint is not None:
            out["joint"] = self.joint.encode_images(images)
        t["embed"] = t.get("embed", 0.0) + clock() - t0
        return out, payloads

    def embed(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Named vectors for a batch of frames: ``{"copy": (N,512), "semantic": (N,1280)}``."""
        out = {"copy": self.copy.embed(images)}
        if self.semantic is not None:
            out["semantic"] = self.semantic.embed(images)
        return out
