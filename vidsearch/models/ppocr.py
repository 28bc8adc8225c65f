"""Text on screen, second engine: the PP-OCR text-line recogniser (``VIDSEARCH_OCR_ENGINE=ppocr``).

PaddleOCR's PP-OCRv6 "small" recogniser (Apache-2.0; a CNN with a CTC head, multilingual
dictionary) reads the same text boxes that the OCR gate selects for Tesseract
(:func:`vidsearch.models.ocr.text_regions`, :class:`~vidsearch.models.ocr.OcrGate`), cut from the
frame in colour (or from the larger copy, ``VIDSEARCH_OCR_SIZE``), without Tesseract's
binarisation. It was trained on scene text, so it reads signs, plates and captions on busy
backgrounds that Tesseract turns into noise (the shared cricket clip's "RSA INSURANCE" board:
Tesseract "roa tr", this engine "KSA INSURANCER", which the text channel matches one edit away).
It costs about 3.4x Tesseract's CPU time on the same boxes, +60-70% of the ingest's CPU on the
real clips (docs/benchmarks.md), so it is an option, not the default.

Weights: the ONNX file inside the ``rapidocr`` wheel on PyPI (``pip install rapidocr==3.10.0``),
used as it ships; vidsearch runs it itself with ONNX Runtime
(:func:`~vidsearch.models.device.ort_session`, so CUDA when the device is cuda and
onnxruntime-gpu is installed) on one CPU thread, in a background thread of the ingest process, so
that it reads while the encoders embed the same frames, as the Tesseract process does.

Recognition as PaddleOCR does it: each crop resized to 48 px high (aspect kept), scaled to
[-1, 1], right-padded to the widest crop of its batch and to at least ``MIN_WIDTH`` (crops are
batched by width); the CTC output
is decoded greedily (best class per step, repeats merged, blanks dropped), and a line's confidence
is the mean probability of its characters. Lines under ``min_conf`` are dropped; what is left goes
through the same word filter as Tesseract's (:func:`vidsearch.models.ocr.clean_words`).
"""
from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import numpy as np

from . import ModelUnavailable, as_rgb_uint8, batches
from .ocr import boxes_to_read, clean_words, region

log = logging.getLogger(__name__)

INSTALL = "pip install rapidocr==3.10.0"
MODEL_FILE = "PP-OCRv6_rec_small.onnx"
HEIGHT = 48
MIN_WIDTH = 320  # a batch is at least this wide (PaddleOCR's 3x48x320 input)
MAX_RATIO = 25.0  # a box wider than 25 heights is squeezed to that width (text_regions boxes are lines)


def model_path() -> Path:
    """The recogniser's ONNX file inside the installed ``rapidocr`` package."""
    try:
        import rapidocr
    except ImportError as exc:
        raise ModelUnavailable("rapidocr", INSTALL, "the PP-OCR text recogniser (VIDSEARCH_OCR_ENGINE=ppocr)",
                               str(exc)) from None
    path = Path(rapidocr.__file__).resolve().parent / "models" / MODEL_FILE
    if not path.is_file():
        raise ModelUnavailable("rapidocr", INSTALL, "the PP-OCR text recogniser", f"{path} is missing")
    return path


def _prepare(crop: np.ndarray, width: int) -> np.ndarray:
    import cv2

    h, w = crop.shape[:2]
    resized_w = max(1, min(width, math.ceil(HEIGHT * w / max(h, 1))))
    img = cv2.resize(np.ascontiguousarray(crop), (resized_w, HEIGHT), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((3, HEIGHT, width), np.float32)
    out[:, :, :resized_w] = img.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    return out


class PPOCRReader:
    """``read(images, regions, large) -> list[str]`` like :class:`~vidsearch.models.ocr.TesseractReader`;
    ``recognise(crops) -> [(text, confidence)]`` reads RGB crops of single lines."""

    def __init__(self, device: str = "cpu", *, min_conf: float = 0.8, batch_size: int = 8):
        from .device import ort_session

        path = model_path()
        self.session = ort_session(str(path), device, threads=1)
        meta = self.session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ModelUnavailable("rapidocr", INSTALL, "the PP-OCR text recogniser", f"{path} has no character list")
        # CTC classes: 0 is the blank, then the model's characters, then a space
        self.characters = ["", *meta["character"].split("\n"), " "]
        n_classes = self.session.get_outputs()[0].shape[-1]
        if isinstance(n_classes, int) and n_classes != len(self.characters):
            raise ModelUnavailable("rapidocr", INSTALL, "the PP-OCR text recogniser",
                                   f"{n_classes} output classes for {len(self.characters)} characters")
        self.input = self.session.get_inputs()[0].name
        self.min_conf = float(min_conf)
        self.batch_size = int(batch_size)

    def recognise(self, crops: list[np.ndarray], cancelled: threading.Event | None = None) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        ratios = [min(MAX_RATIO, c.shape[1] / max(c.shape[0], 1)) for c in crops]
        order = np.argsort(ratios, kind="stable")
        for part in batches(len(order), self.batch_size):
            if cancelled is not None and cancelled.is_set():
                break
            idx = order[part]
            width = max(MIN_WIDTH, math.ceil(HEIGHT * max(ratios[i] for i in idx)))
            batch = np.stack([_prepare(crops[i], width) for i in idx])
            probs = self.session.run(None, {self.input: batch})[0]
            best, conf = probs.argmax(axis=2), probs.max(axis=2)
            for row, i in enumerate(idx):
                keep = np.ones(best.shape[1], bool)
                keep[1:] = best[row, 1:] != best[row, :-1]
                keep &= best[row] != 0
                chars = best[row][keep]
                text = "".join(self.characters[c] for c in chars)
                out[i] = (text, float(conf[row][keep].mean()) if chars.size else 0.0)
        return out

    def start(self, images: list[np.ndarray], regions: list[list[tuple[int, int, int, int]]] | None = None,
              large: list[np.ndarray | None] | None = None) -> "PPOCRJob":
        crops: list[np.ndarray] = []
        owner: list[int] = []
        for i, img, box, big in boxes_to_read(images, regions, large):
            crops.append(as_rgb_uint8(region(img, box, big)[0]))
            owner.append(i)
        return PPOCRJob(self, crops, owner, len(images))

    def read(self, images: list[np.ndarray], regions: list[list[tuple[int, int, int, int]]] | None = None,
             large: list[np.ndarray | None] | None = None) -> list[str]:
        return self.start(images, regions, large).result()


class PPOCRJob:
    """One batch of crops, read in a background thread from the start; :meth:`result` waits."""

    def __init__(self, reader: PPOCRReader, crops: list[np.ndarray], owner: list[int], n_images: int):
        self.reader, self.owner, self.n_images = reader, owner, n_images
        self._lines: list[tuple[str, float]] = []
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self._thread: threading.Thread | None = None
        if crops:
            self._thread = threading.Thread(target=self._run, args=(crops,), name="vidsearch-ppocr", daemon=True)
            self._thread.start()

    def _run(self, crops: list[np.ndarray]) -> None:
        try:
            self._lines = self.reader.recognise(crops, self._cancelled)
        except BaseException as exc:  # reported by result()
            self._error = exc

    def cancel(self) -> None:
        """Stop after the batch in progress (the caller failed); nothing is left running after it."""
        self._cancelled.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> list[str]:
        """The text of each image (lower-case words, may be ''). A failure of the recogniser is
        logged and leaves the images without text, as a failed Tesseract run does."""
        texts: list[list[str]] = [[] for _ in range(self.n_images)]
        if self._thread is None:
            return ["" for _ in texts]
        self._thread.join()
        if self._error is not None:
            log.warning("the PP-OCR recogniser failed (%s: %s); the text of %d crops is skipped",
                        type(self._error).__name__, self._error, len(self.owner))
            return ["" for _ in texts]
        for i, (text, conf) in zip(self.owner, self._lines):
            texts[i].extend(clean_words([(w, 100.0 * conf) for w in text.split()], 100.0 * self.reader.min_conf))
        return [" ".join(t) for t in texts]
