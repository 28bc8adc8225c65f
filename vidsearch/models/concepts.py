"""Concept space: zero-shot text search from ImageNet class probabilities (ConSE).

ConSE (Norouzi et al. 2014, "Zero-shot learning by convex combination of semantic embeddings"):
a frame's concept vector is the probability-weighted mix of the text embeddings of its ``top_k``
most likely classes. A text query embedded by the same text encoder (MiniLM, 384-d) is then
compared with it by cosine similarity, so any phrase can be searched, as far as the 1000 classes
reach.

Data (in ``vidsearch/data``, plain text, edited like code):

- ``imagenet_classes.txt``: the 1000 class names with synonyms, in class-index order;
- ``concept_groups.txt``: everyday words for groups of classes ("dog" for the 118 breeds);
- ``detector_concepts.txt``: concepts that detectors add (``person``, ``face``).

A class's text embedding is the mean of its names' embeddings mixed with its groups' (weight
``GROUP_WEIGHT``); a detector concept's, the mean of its words'. The table (about 1000 x 384) is
computed once with the text encoder and cached on disk, keyed by the data files' content, so
ingestion does not load the text encoder again; the concept vector itself then costs one small
matrix product per batch, on the logits that the semantic embedder already computes.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from . import l2_normalise

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CLASSES_FILE = DATA_DIR / "imagenet_classes.txt"
GROUPS_FILE = DATA_DIR / "concept_groups.txt"
DETECTOR_FILE = DATA_DIR / "detector_concepts.txt"
TABLE_VERSION = 1  # bump when the way the table is built changes
GROUP_WEIGHT = 0.5  # share of a class's embedding that comes from its group words
DIM = 384


def _lines(path: Path) -> list[str]:
    return [ln.rstrip("\n") for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def load_classes(path: Path = CLASSES_FILE) -> list[list[str]]:
    """Class index -> its names (display name first)."""
    out = [[w.strip() for w in ln.split(",") if w.strip()] for ln in _lines(path)]
    if any(not names for names in out):
        raise ValueError(f"{path}: a class line has no name")
    return out


def _indexes(spec: str, n: int, path: Path) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if not (0 <= a <= b < n):
            raise ValueError(f"{path}: class range {part!r} outside 0..{n - 1}")
        out.extend(range(a, b + 1))
    return out


def load_groups(path: Path = GROUPS_FILE, n_classes: int = 1000) -> list[tuple[list[str], list[int]]]:
    """``[(words, class indexes)]``."""
    groups = []
    for ln in _lines(path):
        words, sep, spec = ln.partition("\t")
        if not sep:
            raise ValueError(f"{path}: expected 'words<TAB>indexes', got {ln!r}")
        groups.append(([w.strip() for w in words.split(",") if w.strip()], _indexes(spec, n_classes, path)))
    return groups


def load_detector_concepts(path: Path = DETECTOR_FILE) -> list[tuple[str, list[str]]]:
    out = []
    for ln in _lines(path):
        name, sep, words = ln.partition("\t")
        if not sep:
            raise ValueError(f"{path}: expected 'name<TAB>words', got {ln!r}")
        out.append((name.strip(), [w.strip() for w in words.split(",") if w.strip()]))
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def data_fingerprint(encoder_name: str, files: tuple[Path, ...] = (CLASSES_FILE, GROUPS_FILE, DETECTOR_FILE)) -> str:
    h = hashlib.sha1(f"v{TABLE_VERSION}|{GROUP_WEIGHT}|{encoder_name}".encode())
    for f in files:
        h.update(b"|")
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def build_table(encode: Callable[[list[str]], np.ndarray], classes: list[list[str]],
                groups: list[tuple[list[str], list[int]]], detectors: list[tuple[str, list[str]]]) -> np.ndarray:
    """Rows: one per class, then one per detector concept; L2-normalised."""
    texts: list[str] = []
    index: dict[str, int] = {}

    def ref(t: str) -> int:
        if t not in index:
            index[t] = len(texts)
            texts.append(t)
        return index[t]

    class_refs = [[ref(n) for n in names] for names in classes]
    group_refs = [[ref(w) for w in words] for words, _ in groups]
    det_refs = [[ref(w) for w in words] for _, words in detectors]
    emb = l2_normalise(np.asarray(encode(texts), np.float32))
    member: list[list[int]] = [[] for _ in classes]
    for g, (_, idx) in enumerate(groups):
        for i in idx:
            member[i].append(g)
    rows = []
    for i, refs in enumerate(class_refs):
        own = emb[refs].mean(axis=0)
        own /= max(float(np.linalg.norm(own)), 1e-12)
        if member[i]:
            grp = np.stack([emb[group_refs[g]].mean(axis=0) for g in member[i]]).mean(axis=0)
            grp /= max(float(np.linalg.norm(grp)), 1e-12)
            own = (1 - GROUP_WEIGHT) * own + GROUP_WEIGHT * grp
        rows.append(own)
    for refs in det_refs:
        rows.append(emb[refs].mean(axis=0))
    return l2_normalise(np.stack(rows))


@dataclass
class FrameConcepts:
    """What the concept space says about a batch of frames."""

    vectors: np.ndarray  # (N, 384) L2-normalised concept vectors
    top: list[list[tuple[int, float]]]  # per frame: (concept index, weight) of what went into the mix


class ConceptSpace:
    """The concept table and the ConSE mix.

    ``encoder`` is a callable that returns the text encoder (only called when the table is not
    cached yet, and by :meth:`embed_query`). ``cache_dir``: where the table is kept (default
    ``$XDG_CACHE_HOME/vidsearch``). ``top_k``: classes in a frame's mix (ConSE's T).
    """

    def __init__(self, encoder: Callable[[], object], *, cache_dir: str | os.PathLike | None = None,
                 top_k: int = 10, detector_weight: float = 1.0):
        from .efficientnet import default_cache_dir

        self._encoder_factory = encoder
        self._encoder = None
        self._lock = threading.Lock()
        self.top_k = int(top_k)
        self.detector_weight = float(detector_weight)
        self.classes = load_classes()
        self.groups = load_groups(n_classes=len(self.classes))
        self.detectors = load_detector_concepts()
        self.names = [c[0] for c in self.classes] + [name for name, _ in self.detectors]
        self.detector_index = {name: len(self.classes) + i for i, (name, _) in enumerate(self.detectors)}
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.table = self._load_table()
        self.dim = int(self.table.shape[1])

    @property
    def encoder(self):
        with self._lock:
            if self._encoder is None:
                self._encoder = self._encoder_factory()
            return self._encoder

    def _load_table(self) -> np.ndarray:
        from .text import MODEL_NAME

        path = self.cache_dir / f"concepts-{data_fingerprint(MODEL_NAME)}.npy"
        n = len(self.classes) + len(self.detectors)
        if path.is_file():
            try:
                table = np.load(path)
                if table.shape == (n, DIM):
                    return table.astype(np.float32)
            except (OSError, ValueError) as exc:
                log.warning("concept table %s unreadable (%s); building it again", path, exc)
        table = build_table(self.encoder.encode, self.classes, self.groups, self.detectors)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, table.astype(np.float32))
        os.replace(tmp, path)
        return table

    # -- frames -----------------------------------------------------------------------------
    def frames(self, logits: np.ndarray, detections: Mapping[str, np.ndarray] | None = None) -> FrameConcepts:
        """Concept vectors for a batch of classifier logits (N, 1000) and optional detector
        scores ``{concept name: (N,) in [0, 1]}``."""
        probs = softmax(logits)
        n, k = probs.shape[0], min(self.top_k, probs.shape[1])
        top = np.argpartition(-probs, k - 1, axis=1)[:, :k] if k < probs.shape[1] else np.tile(np.arange(k), (n, 1))
        weights = np.zeros((n, self.table.shape[0]), np.float32)
        rows = np.arange(n)[:, None]
        weights[rows, top] = probs[rows, top]
        for name, scores in (detections or {}).items():
            if name in self.detector_index:
                weights[:, self.detector_index[name]] = self.detector_weight * np.clip(np.asarray(scores, np.float32), 0, 1)
        vectors = l2_normalise(weights @ self.table)
        tops = []
        for i in range(n):
            nz = np.flatnonzero(weights[i])
            order = nz[np.argsort(-weights[i, nz])]
            tops.append([(int(j), float(weights[i, j])) for j in order])
        return FrameConcepts(vectors=vectors, top=tops)

    # -- queries ----------------------------------------------------------------------------
    def embed_query(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]

    def similarities(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of the query with every concept (classes, then detector concepts)."""
        return self.table @ np.asarray(query_vector, np.float32)

    def explain(self, sims: np.ndarray, top: list, limit: int = 2) -> list[tuple[str, float]]:
        """The concepts of a frame that pulled it towards the query: ``(name, weight)`` for the
        largest ``weight * similarity`` contributions, from a frame's stored ``top`` list."""
        contrib = sorted(((float(w) * float(sims[int(j)]), int(j), float(w)) for j, w in top), reverse=True)
        return [(self.names[j], w) for c, j, w in contrib[:limit] if c > 0]
