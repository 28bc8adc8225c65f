"""Detectors that ship with their weights (OpenCV), and colour.

- :class:`PeopleDetector`: OpenCV's HOG + linear SVM pedestrian detector (Dalal & Triggs), weights
  built into OpenCV. Finds upright people at least 128 px tall in the frame it is given.
- :class:`FaceDetector`: OpenCV's Haar cascade for frontal faces (``haarcascade_frontalface_default.xml``,
  shipped in ``opencv-python-headless`` 4.x; OpenCV 5 dropped the cascades).
- :func:`colour_names`: the share of each basic colour term (black, white, grey, red, orange,
  yellow, green, blue, purple, pink, brown) among a frame's pixels, weighted by saliency
  (frequency-tuned: distance of each blurred pixel's Lab colour from the frame's mean colour,
  times a centre prior), so that "red car" or "white truck" can pair a colour with a concept.

Each detector returns, per image, a score in [0, 1] (the concept mix in
:mod:`vidsearch.models.concepts` takes it as the weight of the ``person`` / ``face`` concept) and
the boxes. Which of them ingestion runs is a setting (``VIDSEARCH_DETECTORS``); the benchmark
(docs/benchmarks.md, "Text search") says what each costs and what it brought on the real clips.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from . import ModelUnavailable

INSTALL = 'pip install "opencv-python-headless>=4.8,<5"'
COLOURS = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
COLOUR_WORDS = {  # query words -> colour term
    "black": "black", "dark": "black", "white": "white", "grey": "grey", "gray": "grey", "silver": "grey",
    "red": "red", "crimson": "red", "scarlet": "red", "orange": "orange", "yellow": "yellow", "golden": "yellow",
    "gold": "yellow", "green": "green", "turquoise": "blue", "blue": "blue", "navy": "blue", "cyan": "blue",
    "purple": "purple", "violet": "purple", "pink": "pink", "magenta": "pink", "brown": "brown",
}


def _cv2():
    try:
        import cv2
    except ImportError as exc:
        raise ModelUnavailable("opencv-python-headless", INSTALL, "the people and face detectors", str(exc)) from None
    return cv2


_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def _hog():
    cv2 = _cv2()
    if not hasattr(cv2, "HOGDescriptor"):
        raise ModelUnavailable("opencv-python-headless", INSTALL, "the HOG people detector", f"OpenCV {cv2.__version__} has no HOG")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


@functools.lru_cache(maxsize=None)
def _face_cascade():
    cv2 = _cv2()
    data = getattr(cv2, "data", None)
    path = None if data is None else f"{data.haarcascades}haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path) if path and hasattr(cv2, "CascadeClassifier") else None
    if cascade is None or cascade.empty():
        raise ModelUnavailable("opencv-python-headless", INSTALL, "the Haar face detector",
                               f"OpenCV {cv2.__version__} ships no haarcascade_frontalface_default.xml")
    return cascade


class PeopleDetector:
    """``detect(images) -> (scores (N,), boxes)``; score: 1 - exp(-best SVM margin)."""

    name = "person"

    def __init__(self, *, scale: float = 1.1, min_margin: float = 0.3):
        with _lock:
            self.hog = _hog()
        self.scale = float(scale)
        self.min_margin = float(min_margin)

    def detect(self, images: list[np.ndarray]):
        scores, boxes = np.zeros(len(images), np.float32), []
        for i, img in enumerate(images):
            rects, weights = self.hog.detectMultiScale(np.ascontiguousarray(img), winStride=(8, 8), padding=(8, 8),
                                                       scale=self.scale)
            w = np.asarray(weights, np.float32).reshape(-1)
            keep = [tuple(int(v) for v in r) for r, m in zip(rects, w) if m >= self.min_margin]
            boxes.append(keep)
            if keep:
                scores[i] = float(1 - np.exp(-float(w.max())))
        return scores, boxes


class FaceDetector:
    """``detect(images) -> (scores (N,), boxes)``; score: the largest face's share of the frame
    height, scaled so that a face a quarter of the frame high scores 1."""

    name = "face"

    def __init__(self, *, min_neighbors: int = 6, min_size: int = 20):
        with _lock:
            self.cascade = _face_cascade()
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)

    def detect(self, images: list[np.ndarray]):
        cv2 = _cv2()
        scores, boxes = np.zeros(len(images), np.float32), []
        for i, img in enumerate(images):
            gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY))
            rects = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=self.min_neighbors,
                                                  minSize=(self.min_size, self.min_size))
            keep = [tuple(int(v) for v in r) for r in rects] if len(rects) else []
            boxes.append(keep)
            if keep:
                scores[i] = min(1.0, max(h for _, _, _, h in keep) / (0.25 * img.shape[0]))
        return scores, boxes


# Colour -----------------------------------------------------------------------------------------

def _hsv_names(hsv: np.ndarray) -> np.ndarray:
    """Index into COLOURS for each pixel of an OpenCV HSV image (H 0..179, S and V 0..255)."""
    h, s, v = (hsv[..., k].astype(np.int16) for k in range(3))
    out = np.full(h.shape, COLOURS.index("grey"), np.int8)
    chroma = s >= 60
    out[(v < 50)] = COLOURS.index("black")
    out[(v >= 200) & (s < 35)] = COLOURS.index("white")
    hue = np.select(
        [h < 8, h < 20, h < 33, h < 85, h < 130, h < 148, h < 168, h >= 168],
        [COLOURS.index(c) for c in ("red", "orange", "yellow", "green", "blue", "purple", "pink", "red")],
    )
    colourful = chroma & (v >= 50)
    out[colourful] = hue[colourful]
    brown = colourful & (h < 25) & (v < 150)  # dark orange/red reads as brown
    out[brown] = COLOURS.index("brown")
    pinkish = colourful & ((h >= 160) | (h < 8)) & (s < 140) & (v >= 150)
    out[pinkish] = COLOURS.index("pink")
    return out


def colour_names(image: np.ndarray, *, size: int = 64) -> dict[str, float]:
    """Saliency-weighted share of each colour term in the image (sums to 1; terms under 3% dropped)."""
    cv2 = _cv2()
    small = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (5, 5), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    sal = np.linalg.norm(lab - lab.reshape(-1, 3).mean(axis=0), axis=2)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    sal = sal * np.exp(-(xx ** 2 + yy ** 2) / (2 * 0.3 ** 2)) + 1e-3
    names = _hsv_names(cv2.cvtColor(small, cv2.COLOR_RGB2HSV))
    share = np.bincount(names.reshape(-1), weights=sal.reshape(-1), minlength=len(COLOURS))
    share = share / share.sum()
    return {COLOURS[i]: round(float(share[i]), 3) for i in np.argsort(-share) if share[i] >= 0.03}


def query_colours(words: list[str]) -> list[str]:
    """The colour terms named by query words (``"navy"`` -> ``"blue"``)."""
    out = []
    for w in words:
        c = COLOUR_WORDS.get(w.lower())
        if c and c not in out:
            out.append(c)
    return out
