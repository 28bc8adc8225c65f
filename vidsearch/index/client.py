"""ClientStore: the index in Qdrant through qdrant-client.

Used with a Qdrant server (any number of processes may read and write), and, in tests, with
qdrant-client's local mode (``:memory:`` or a folder; pure Python, brute force, one process per
folder) which mirrors the server API. Collections ``frames`` and ``segments`` are created when
missing, with the named vectors and payload indexes described in :mod:`vidsearch.index.store`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from vidsearch.records import FrameHit, Keyframe, Segment

from .lock import StoreLocked
from .store import (
    COPY,
    COPY_DIM,
    FRAMES,
    SEGMENTS,
    SEMANTIC_DIM,
    TEMPORAL,
    CONCEPT_DIM,
    OPTIONAL_VECTORS,
    TEXT_FIELD,
    VectorStore,
    clamp_score,
    frame_hit_from_payload,
    segment_from_payload,
)

_BATCH = 256  # points per upsert request (a 1280-d float vector is ~25 kB of JSON)
_PAGE = 1024


class ClientStore(VectorStore):
    def __init__(
        self,
        client: QdrantClient,
        *,
        copy_dim: int = COPY_DIM,
        semantic_dim: int = SEMANTIC_DIM,
        temporal_dim: int | None = None,
        concept_dim: int = CONCEPT_DIM,
        joint_dim: int | None = None,
        location: str | None = None,
    ):
        super().__init__(copy_dim, semantic_dim, temporal_dim, concept_dim=concept_dim, joint_dim=joint_dim)
        self.client = client
        self.location = location
        self._closed = False
        self._local = type(getattr(client, "_client", None)).__name__ == "QdrantLocal"
        self._ensure(FRAMES, {"video_id": models.PayloadSchemaType.KEYWORD, "t": models.PayloadSchemaType.FLOAT,
                              "camera": models.PayloadSchemaType.KEYWORD,
                              "wall_time": models.PayloadSchemaType.FLOAT,
                              TEXT_FIELD: models.TextIndexParams(type=models.TextIndexType.TEXT,
                                                                 tokenizer=models.TokenizerType.WORD, lowercase=True,
                                                                 min_token_len=2, max_token_len=40)})
        self._ensure(SEGMENTS, {"video_id": models.PayloadSchemaType.KEYWORD})

    # Constructors ----------------------------------------------------------------------------
    @classmethod
    def server(cls, url: str, api_key: str | None = None, **kwargs) -> "ClientStore":
        return cls(QdrantClient(url=url, api_key=api_key), location=url, **kwargs)

    @classmethod
    def local(cls, where: str | Path, **kwargs) -> "ClientStore":
        """qdrant-client local mode: ``":memory:"`` or a folder (created when missing)."""
        if str(where) == ":memory:":
            return cls(QdrantClient(location=":memory:"), location=":memory:", **kwargs)
        folder = Path(where)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=str(folder))
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreLocked(folder, None, detail=f"qdrant-client local mode: {exc}") from None
            raise
        return cls(client, location=f"path:{folder}", **kwargs)

    # Collections -----------------------------------------------------------------------------
    def _ensure(self, name: str, indexes: dict[str, Any]) -> None:
        if not self.client.collection_exists(name):
            vectors = {
                vname: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                for vname, dim in self.dims.items()
            }
            try:
                self.client.create_collection(name, vectors_config=vectors)
            except Exception:
                if not self.client.collection_exists(name):  # not a lost race with another process
                    raise
        self._check_dims(name)
        if self._local:
            return  # local mode has no payload indexes (it warns and ignores them)
        info = self.client.get_collection(name)
        have = set((info.payload_schema or {}).keys())
        for field, schema in indexes.items():
            if field not in have:
                self.client.create_payload_index(name, field, field_schema=schema, wait=True)

    def _check_dims(self, name: str) -> None:
        params = self.client.get_collection(name).config.params.vectors
        if not isinstance(params, dict):
            raise ValueError(
                f"Qdrant collection {name!r} at {self.location} has no named vectors; "
                f"it was not made by vidsearch (expected {sorted(self.dims)})"
            )
        if TEMPORAL not in params:  # made before segments had a temporal vector
            self.dims.pop(TEMPORAL, None)
        for vname in OPTIONAL_VECTORS:  # made before text search, or without a joint model
            if vname not in params:
                self.dims.pop(vname, None)
        for vname, dim in self.dims.items():
            p = params.get(vname)
            if p is None:
                raise ValueError(f"Qdrant collection {name!r} at {self.location} lacks the {vname!r} vector")
            if int(p.size) != dim:
                raise ValueError(
                    f"Qdrant collection {name!r} at {self.location} stores {vname!r} vectors of "
                    f"{p.size} values, not {dim}: it was built with another model"
                )

    def _live(self) -> QdrantClient:
        if self._closed:
            raise RuntimeError(f"the vector store at {self.location} is closed")
        return self.client

    # Writing ---------------------------------------------------------------------------------
    def _upsert(self, name: str, points: list[tuple[str, dict, dict]]) -> None:
        client = self._live()
        for i in range(0, len(points), _BATCH):
            batch = [
                models.PointStruct(id=pid, vector=vecs, payload=payload)
                for pid, vecs, payload in points[i : i + _BATCH]
            ]
            client.upsert(name, points=batch, wait=True)

    def upsert_frames(self, video_id: str, keyframes: list[Keyframe], *, camera=None, wall_start=None) -> None:
        self._upsert(FRAMES, self._frame_points(video_id, keyframes, camera, wall_start))

    def upsert_segments(self, video_id: str, segments: list[Segment], vectors: dict[str, np.ndarray]) -> None:
        self._upsert(SEGMENTS, self._segment_points(video_id, segments, vectors))

    def delete_video(self, video_id: str) -> None:
        client = self._live()
        for name in (FRAMES, SEGMENTS):
            client.delete(name, points_selector=models.FilterSelector(filter=_filter(video_id)), wait=True)

    # Reading ---------------------------------------------------------------------------------
    def _nearest(self, name: str, vector_name: str, vector, limit: int, flt) -> list:
        query = self._query_vector(vector_name, vector)
        if limit <= 0:
            return []
        response = self._live().query_points(
            name, query=query, using=vector_name, query_filter=flt, limit=int(limit), with_payload=True
        )
        return response.points

    def search_frames(self, vector_name, vector, limit, video_id=None, start=None, end=None, *,
                      camera=None, wall_after=None, wall_before=None, wall_ranges=None) -> list[FrameHit]:
        flt = _filter(video_id, start, end, camera=camera, wall_after=wall_after, wall_before=wall_before,
                      wall_ranges=wall_ranges)
        points = self._nearest(FRAMES, vector_name, vector, limit, flt)
        return [frame_hit_from_payload(p.payload, p.score) for p in points]

    def search_text(self, words, limit, video_id=None, start=None, end=None, *, camera=None, wall_after=None,
                    wall_before=None, wall_ranges=None) -> list[FrameHit]:
        words = [w for w in words if w]
        if not words or limit <= 0:
            return []
        flt = _filter(video_id, start, end, camera=camera, wall_after=wall_after, wall_before=wall_before,
                      wall_ranges=wall_ranges)
        cond = models.FieldCondition(key=TEXT_FIELD, match=models.MatchTextAny(text_any=" ".join(words)))
        flt = models.Filter(must=[cond, *((flt.must or []) if flt is not None else [])])
        records, _ = self._live().scroll(FRAMES, scroll_filter=flt, limit=int(limit), with_payload=True)
        return [frame_hit_from_payload(r.payload, 0.0) for r in records]

    def search_segments(self, vector_name, vector, limit, video_id=None) -> list[tuple[Segment, float]]:
        points = self._nearest(SEGMENTS, vector_name, vector, limit, _filter(video_id))
        return [(segment_from_payload(p.payload), clamp_score(p.score)) for p in points]

    def frame_records(self, video_id: str, with_vector: list[str] | None = None, start: float | None = None,
                      end: float | None = None):
        client, offset, flt = self._live(), None, _filter(video_id, start, end)
        while True:
            records, offset = client.scroll(FRAMES, scroll_filter=flt, limit=_PAGE, offset=offset, with_payload=True,
                                            with_vectors=with_vector or False)
            yield from records
            if offset is None or not records:
                break

    def frames_of(self, video_id: str) -> list[tuple[float, int, np.ndarray]]:
        out = [(float(r.payload["t"]), int(r.payload["segment"]), np.asarray(r.vector[COPY], dtype=np.float32))
               for r in self.frame_records(video_id, [COPY])
               if isinstance(r.vector, dict) and r.vector.get(COPY) is not None]
        return sorted(out, key=lambda x: x[0])

    def _count(self, name: str, video_id: str | None) -> int:
        return int(self._live().count(name, count_filter=_filter(video_id), exact=True).count)

    def count_frames(self, video_id: str | None = None) -> int:
        return self._count(FRAMES, video_id)

    def count_segments(self, video_id: str | None = None) -> int:
        return self._count(SEGMENTS, video_id)

    # Lifetime --------------------------------------------------------------------------------
    def flush(self) -> None:
        self._live()  # writes use wait=True: the server (or local mode) has applied them already

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.client.close()

    def __repr__(self) -> str:
        return f"ClientStore({self.location!r}, closed={self._closed})"


def _filter(video_id: str | None = None, start: float | None = None, end: float | None = None, *,
            camera: str | None = None, wall_after: float | None = None, wall_before: float | None = None,
            wall_ranges=None):
    must: list = []
    if video_id is not None:
        must.append(models.FieldCondition(key="video_id", match=models.MatchValue(value=str(video_id))))
    if start is not None or end is not None:
        rng = models.Range(
            gte=None if start is None else float(start),
            lte=None if end is None else float(end),
        )
        must.append(models.FieldCondition(key="t", range=rng))
    if camera is not None:
        must.append(models.FieldCondition(key="camera", match=models.MatchValue(value=str(camera))))
    if wall_after is not None or wall_before is not None:
        rng = models.Range(gte=None if wall_after is None else float(wall_after),
                           lte=None if wall_before is None else float(wall_before))
        must.append(models.FieldCondition(key="wall_time", range=rng))
    if wall_ranges is not None:  # any of these spans (a time of day on every day): none matches nothing
        must.append(models.Filter(should=[models.FieldCondition(key="wall_time", range=models.Range(gte=float(a), lte=float(b)))
                                          for a, b in wall_ranges] or [models.HasIdCondition(has_id=[])]))
    return models.Filter(must=must) if must else None
