"""The vector store interface and the choice of backend.

Two collections (Qdrant Edge: two shards) hold the index:

``frames``
    one point per embedded keyframe, id :func:`~vidsearch.index.ids.frame_point_id`;
    named vectors ``"copy"`` (SSCD, 512-d) and, when computed, ``"semantic"`` (EfficientNet,
    1280-d); payload ``{video_id, t, segment, until}`` (``until``: end of the run of samples the
    keyframe stands for, or null), plus ``camera`` and ``wall_time`` (``wall_start + t``, seconds
    since the epoch) for recordings with a camera label or a wall-clock start (``vidsearch
    watch``), with payload indexes on ``video_id`` and ``camera`` (keyword), ``t`` and
    ``wall_time`` (float). Text search adds the named vector ``"concept"`` (384-d, ConSE;
    ``"joint"`` with a CLIP-family model) and the payload ``text`` (words read on screen, full-text
    index) and ``concepts`` (the top ``[class index, weight]`` pairs of the concept mix); a store
    made before them opens without them and text search says to re-index.
``segments``
    one point per segment, id :func:`~vidsearch.index.ids.segment_point_id`; the same named vectors
    (whichever the caller passes: the mean of the keyframes' vectors) and, when the temporal
    segment encoder is on, ``"temporal"`` (:mod:`vidsearch.models.temporal`, in the copy
    descriptor's space, so as many values as ``"copy"``); payload
    ``{video_id, segment, start, end, keyframes, thumbnail}``. A store created before
    ``"temporal"`` existed opens without it and refuses temporal vectors with a clear error.

Vectors are float32 and L2-normalised by the caller; distance is cosine, so scores are cosine
similarities. Ids are deterministic, so upserting the same keyframes again replaces points instead
of adding them. Upserts do not remove points the new call does not mention: to re-index a video
whose keyframes changed, call :meth:`VectorStore.delete_video` first.

Backends: :class:`~vidsearch.index.edge.EdgeStore` (qdrant-edge-py, embedded, one owning
process) and :class:`~vidsearch.index.client.ClientStore` (qdrant-client: a server, or its local
mode in tests). :func:`open_store` picks one from the settings.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

import numpy as np

from vidsearch.records import FrameHit, Keyframe, Segment

from .ids import frame_point_id, segment_point_id

if TYPE_CHECKING:
    from vidsearch.config import Settings

FRAMES = "frames"
SEGMENTS = "segments"
COPY = "copy"
SEMANTIC = "semantic"
TEMPORAL = "temporal"
CONCEPT = "concept"  # text search: ConSE concept vector (vidsearch.models.concepts), frames and segments
JOINT = "joint"  # text search: a CLIP-family image embedding, only when such a model is configured
VECTOR_NAMES = (COPY, SEMANTIC, TEMPORAL, CONCEPT, JOINT)
OPTIONAL_VECTORS = (CONCEPT, JOINT)  # a store made without them opens without them
COPY_DIM = 512
SEMANTIC_DIM = 1280
CONCEPT_DIM = 384
TEXT_FIELD = "text"  # frame payload: words read on screen (full-text index)
# payload filters every frame search takes besides video_id/start/end (``wall_ranges``: a list of
# (from, to) wall_time spans of which a frame must lie in one, e.g. a time of day on every day)
FILTER_KEYS = ("camera", "wall_after", "wall_before", "wall_ranges")


def passes_filters(payload: Mapping[str, Any], camera: str | None = None, wall_after: float | None = None,
                   wall_before: float | None = None, wall_ranges=None) -> bool:
    """Whether a frame's payload passes the :data:`FILTER_KEYS` filters as the stores' own payload
    filters pass it (for frames read whole, e.g. by :meth:`VectorStore.video_vectors`): a filter on
    ``wall_time`` leaves out a frame without one, and an empty ``wall_ranges`` matches nothing."""
    if camera is not None and payload.get("camera") != str(camera):
        return False
    if wall_after is None and wall_before is None and wall_ranges is None:
        return True
    wall = payload.get("wall_time")
    if wall is None:
        return False
    wall = float(wall)
    if (wall_after is not None and wall < float(wall_after)) or (wall_before is not None and wall > float(wall_before)):
        return False
    return wall_ranges is None or any(float(a) <= wall <= float(b) for a, b in wall_ranges)


@dataclass(frozen=True)
class StoredFrame:
    """One stored frame point with one of its vectors (:meth:`VectorStore.frame_vectors`)."""

    timestamp: float
    segment_index: int
    until: float | None
    vector: np.ndarray
    payload: dict


def stored_frame(payload: Mapping[str, Any], vector) -> "StoredFrame | None":
    if vector is None:
        return None
    until = payload.get("until")
    return StoredFrame(float(payload["t"]), int(payload["segment"]), None if until is None else float(until),
                       np.asarray(vector, dtype=np.float32), dict(payload))


class VectorStore(ABC):
    """Frames and segments of every indexed video, searchable by vector."""

    def __init__(self, copy_dim: int = COPY_DIM, semantic_dim: int = SEMANTIC_DIM, temporal_dim: int | None = None,
                 *, concept_dim: int = CONCEPT_DIM, joint_dim: int | None = None):
        temporal_dim = copy_dim if temporal_dim is None else temporal_dim  # it lives in the copy space
        self.dims: dict[str, int] = {COPY: int(copy_dim), SEMANTIC: int(semantic_dim), TEMPORAL: int(temporal_dim),
                                     CONCEPT: int(concept_dim)}
        if joint_dim:
            self.dims[JOINT] = int(joint_dim)

    # Writing ---------------------------------------------------------------------------------
    @abstractmethod
    def upsert_frames(self, video_id: str, keyframes: list[Keyframe], *, camera: str | None = None,
                      wall_start: float | None = None) -> None:
        """Store one point per keyframe (vectors ``copy`` and, when present, ``semantic``)."""

    @abstractmethod
    def upsert_segments(self, video_id: str, segments: list[Segment], vectors: dict[str, np.ndarray]) -> None:
        """Store one point per segment; ``vectors[name]`` has one row per segment."""

    @abstractmethod
    def delete_video(self, video_id: str) -> None:
        """Remove every frame and segment of ``video_id`` (nothing happens when there is none)."""

    # Reading ---------------------------------------------------------------------------------
    @abstractmethod
    def search_frames(
        self,
        vector_name: str,
        vector: np.ndarray,
        limit: int,
        video_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        *,
        camera: str | None = None,
        wall_after: float | None = None,
        wall_before: float | None = None,
        wall_ranges: list[tuple[float, float]] | None = None,
    ) -> list[FrameHit]:
        """Nearest frames, best first; optionally only of one video and with ``start <= t <= end``,
        only of one camera, only with ``wall_after <= wall_time <= wall_before`` (seconds since
        the epoch; frames of videos without a wall-clock start never match a wall-time bound), and
        only with ``wall_time`` inside one of ``wall_ranges`` (an empty list matches nothing)."""

    def search_frames_many(self, vector_name: str, queries: list[dict]) -> list[list[FrameHit]]:
        """Several :meth:`search_frames` at once: ``queries[i]`` holds ``vector`` and ``limit`` and
        optionally ``video_id``, ``start``, ``end`` and the :data:`FILTER_KEYS`; answers in the same order. Backends that can
        run a batch in one pass over the vectors override this."""
        return [self.search_frames(vector_name, **q) for q in queries]

    @abstractmethod
    def search_segments(
        self, vector_name: str, vector: np.ndarray, limit: int, video_id: str | None = None
    ) -> list[tuple[Segment, float]]:
        """Nearest segments with their scores, best first."""

    def search_text(self, words: list[str], limit: int, video_id: str | None = None, start: float | None = None,
                    end: float | None = None, *, camera: str | None = None, wall_after: float | None = None,
                    wall_before: float | None = None,
                    wall_ranges: list[tuple[float, float]] | None = None) -> list[FrameHit]:
        """Frames whose on-screen text (payload ``text``, full-text index) has any of ``words``,
        in no particular order, ``score`` 0; the same filters as :meth:`search_frames`."""
        raise NotImplementedError(f"{type(self).__name__} cannot search on-screen text")

    @abstractmethod
    def frame_records(self, video_id: str, with_vector: list[str] | None = None, start: float | None = None,
                      end: float | None = None) -> Iterator:
        """Stored frame points of the video (``start <= t <= end`` when given), with their payload
        (``.payload``) and the named vectors (``.vector``, a dict), page by page, in no order."""

    def frame_vectors(self, video_id: str, start: float | None = None, end: float | None = None,
                      vector_name: str = COPY) -> list[StoredFrame]:
        """Stored frames of the video with ``start <= t <= end`` and their ``vector_name`` vector, by
        time (frames without that vector are left out)."""
        frames = (stored_frame(r.payload, r.vector.get(vector_name) if isinstance(r.vector, dict) else None)
                  for r in self.frame_records(video_id, [vector_name], start, end))
        return sorted((f for f in frames if f is not None), key=lambda f: f.timestamp)

    @abstractmethod
    def frames_of(self, video_id: str) -> list[tuple[float, int, np.ndarray]]:
        """``(timestamp, segment index, copy vector)`` of every stored frame of the video, by time."""

    def video_vectors(self, video_id: str, names: list[str]) -> tuple[list[FrameHit], dict[str, np.ndarray]]:
        """Every stored frame of the video, by time, as score-0 hits, with the named vectors as
        ``(N, dim)`` arrays (a frame lacking one of them is left out; a name the store does not hold
        is skipped). One pass over the video's points (watchlists read a new video with it)."""
        names = [n for n in names if n in self.dims]
        return frames_with_vectors(self.frame_records(video_id, names), names)

    @abstractmethod
    def count_frames(self, video_id: str | None = None) -> int:
        """Frame points, of one video or all."""

    @abstractmethod
    def count_segments(self, video_id: str | None = None) -> int:
        """Segment points, of one video or all."""

    # Lifetime --------------------------------------------------------------------------------
    @abstractmethod
    def flush(self) -> None:
        """Make everything written so far durable."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release the store; calling it again does nothing."""

    def __enter__(self) -> "VectorStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # Helpers shared by the backends ----------------------------------------------------------
    def _check_name(self, vector_name: str) -> str:
        if vector_name == TEMPORAL and TEMPORAL not in self.dims:
            raise ValueError(
                "this index was created before segments had a 'temporal' vector: re-index into a new "
                "VIDSEARCH_DATA_DIR (or collections) to use VIDSEARCH_SEGMENT_ENCODER=temporal, or set it to mean"
            )
        if vector_name == CONCEPT and CONCEPT not in self.dims:
            raise ValueError("this index was created before text search (its frames have no 'concept' vector): "
                             "re-index into a new VIDSEARCH_DATA_DIR (or collections) to search it by text")
        if vector_name == JOINT and JOINT not in self.dims:
            raise ValueError("this index has no 'joint' vector: it was created without VIDSEARCH_JOINT_MODEL "
                             "(or with another one); re-index into a new VIDSEARCH_DATA_DIR to use it")
        if vector_name not in self.dims:
            raise ValueError(f"unknown vector name {vector_name!r}; expected one of {sorted(self.dims)}")
        return vector_name

    def _query_vector(self, vector_name: str, vector: Any) -> list[float]:
        self._check_name(vector_name)
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dims[vector_name]:
            raise ValueError(f"{vector_name} query vector has {v.shape[0]} values, expected {self.dims[vector_name]}")
        return v.tolist()

    def _vector(self, vector_name: str, vector: Any, what: str) -> list[float]:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dims[vector_name]:
            raise ValueError(f"{what}: {vector_name} vector has {v.shape[0]} values, expected {self.dims[vector_name]}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{what}: {vector_name} vector is not finite")
        return v.tolist()

    def _frame_points(self, video_id: str, keyframes: Iterable[Keyframe], camera: str | None = None,
                      wall_start: float | None = None) -> list[tuple[str, dict, dict]]:
        """``(id, {name: list}, payload)`` per keyframe; the last of two with the same id wins."""
        out: dict[str, tuple[str, dict, dict]] = {}
        for kf in keyframes:
            what = f"keyframe {kf.timestamp:.3f}s of {video_id}"
            vecs: dict[str, list[float]] = {}
            if kf.copy is not None:
                vecs[COPY] = self._vector(COPY, kf.copy, what)
            if kf.semantic is not None:
                vecs[SEMANTIC] = self._vector(SEMANTIC, kf.semantic, what)
            for name in OPTIONAL_VECTORS:  # skipped on a store made without them
                value = getattr(kf, name, None)
                if value is not None and name in self.dims:
                    vecs[name] = self._vector(name, value, what)
            if not vecs:
                raise ValueError(f"{what} has no vector")
            pid = frame_point_id(video_id, kf.timestamp)
            payload = {
                "video_id": video_id,
                "t": float(kf.timestamp),
                "segment": int(kf.segment_index),
                "until": None if kf.until is None else float(kf.until),
            }
            if camera is not None:
                payload["camera"] = str(camera)
            if wall_start is not None:
                payload["wall_time"] = float(wall_start) + float(kf.timestamp)
            for key, value in (getattr(kf, "payload", None) or {}).items():
                payload.setdefault(key, value)
            out[pid] = (pid, vecs, payload)
        return list(out.values())

    def _segment_points(
        self, video_id: str, segments: list[Segment], vectors: Mapping[str, np.ndarray]
    ) -> list[tuple[str, dict, dict]]:
        rows: dict[str, np.ndarray] = {}
        for name, arr in (vectors or {}).items():
            if name in OPTIONAL_VECTORS and name not in self.dims:
                continue  # a store made before text search: the segment is stored without it
            self._check_name(name)
            a = np.asarray(arr, dtype=np.float32)
            if a.ndim == 1 and len(segments) == 1:
                a = a[None, :]
            if a.ndim != 2 or a.shape[0] != len(segments) or a.shape[1] != self.dims[name]:
                raise ValueError(
                    f"segments of {video_id}: vectors[{name!r}] has shape {a.shape}, "
                    f"expected ({len(segments)}, {self.dims[name]})"
                )
            rows[name] = a
        out: dict[str, tuple[str, dict, dict]] = {}
        for i, seg in enumerate(segments):
            if seg.video_id != video_id:
                raise ValueError(f"segment {seg.index} belongs to {seg.video_id!r}, not {video_id!r}")
            what = f"segment {seg.index} of {video_id}"
            vecs = {name: self._vector(name, a[i], what) for name, a in rows.items()}
            pid = segment_point_id(video_id, seg.index)
            out[pid] = (pid, vecs, segment_payload(seg))
        return list(out.values())


def segment_payload(seg: Segment) -> dict[str, Any]:
    return {
        "video_id": seg.video_id,
        "segment": int(seg.index),
        "start": float(seg.start),
        "end": float(seg.end),
        "keyframes": [float(t) for t in seg.keyframes],
        "thumbnail": seg.thumbnail,
    }


def segment_from_payload(p: Mapping[str, Any]) -> Segment:
    return Segment(
        video_id=str(p["video_id"]),
        index=int(p["segment"]),
        start=float(p["start"]),
        end=float(p["end"]),
        keyframes=[float(t) for t in (p.get("keyframes") or [])],
        thumbnail=p.get("thumbnail"),
    )


def clamp_score(score: float) -> float:
    """Cosine similarity kept in [-1, 1] (float16 storage rounds a unit vector to norm 1 +- 1e-4)."""
    return min(1.0, max(-1.0, float(score)))


_HIT_FIELDS = ("video_id", "t", "segment", "until")


def frames_with_vectors(records, names: list[str]) -> tuple[list[FrameHit], dict[str, np.ndarray]]:
    """``(hits, {name: (N, dim)})`` from scrolled records (``.payload``, ``.vector`` dict), by time.
    A name that no record has (e.g. ``semantic`` of a video indexed without it) is left out."""
    records = list(records)
    names = [n for n in names if any(isinstance(r.vector, dict) and r.vector.get(n) is not None for r in records)]
    rows = []
    for r in records:
        vecs = r.vector if isinstance(r.vector, dict) else {}
        if all(vecs.get(n) is not None for n in names):
            rows.append((frame_hit_from_payload(r.payload, 0.0), [vecs[n] for n in names]))
    rows.sort(key=lambda x: x[0].timestamp)
    arrays = {n: (np.asarray([v[i] for _, v in rows], dtype=np.float32) if rows else np.zeros((0, 0), np.float32))
              for i, n in enumerate(names)}
    return [h for h, _ in rows], arrays


def frame_hit_from_payload(p: Mapping[str, Any], score: float) -> FrameHit:
    until = p.get("until")
    return FrameHit(
        video_id=str(p["video_id"]),
        timestamp=float(p["t"]),
        segment_index=int(p["segment"]),
        score=clamp_score(score),
        until=None if until is None else float(until),
        extra={k: v for k, v in p.items() if k not in _HIT_FIELDS},
    )


def open_store(settings: "Settings", **kwargs) -> VectorStore:
    """The store the settings name. It does not take the :class:`~vidsearch.index.lock.OwnerLock`:
    the caller (the service) does, before opening an embedded store.

    * ``settings.qdrant_url`` unset: :class:`~vidsearch.index.edge.EdgeStore` in
      ``settings.qdrant_path`` (created on first use, loaded afterwards).
    * ``http://...`` / ``https://...``: :class:`~vidsearch.index.client.ClientStore` on that
      server, with ``settings.qdrant_api_key``.
    * ``:memory:`` or ``path:/some/dir``: ``ClientStore`` in qdrant-client's local mode (tests
      use it to exercise the server code path without a server).

    ``kwargs`` (``copy_dim``, ``semantic_dim``, ...) go to the backend's constructor.
    """
    if getattr(settings, "joint_model", None) and "joint_dim" not in kwargs:
        from vidsearch.models.joint import joint_model

        kwargs["joint_dim"] = joint_model(settings).dim  # the configured CLIP-family model's width
    url = settings.qdrant_url
    if url is None or url == "":
        from .edge import EdgeStore

        from vidsearch.diskspace import reserve_file

        kwargs.setdefault("min_free_mb", getattr(settings, "min_free_mb", 0.0))
        kwargs.setdefault("reserve_path", reserve_file(settings.data_dir))
        return EdgeStore(settings.qdrant_path, lock_path=settings.lock_path, **kwargs)

    from vidsearch.config import ConfigError

    from .client import ClientStore

    if url == ":memory:":
        return ClientStore.local(":memory:", **kwargs)
    if url.startswith("path:"):
        folder = url[len("path:"):]
        if not folder:
            raise ConfigError("VIDSEARCH_QDRANT_URL=path: needs a folder, e.g. path:/var/lib/vidsearch/qdrant")
        return ClientStore.local(folder, **kwargs)
    if url.startswith(("http://", "https://")):
        return ClientStore.server(url, api_key=settings.qdrant_api_key, **kwargs)
    raise ConfigError(
        f"VIDSEARCH_QDRANT_URL={url!r}: expected http(s)://host:port, path:/some/dir or :memory:"
    )
