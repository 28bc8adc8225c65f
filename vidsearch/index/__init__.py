"""The vector index: deterministic point ids, one owner of an embedded store, the store interface
(:class:`VectorStore`, :func:`open_store`) and its two backends (``edge``: qdrant-edge-py in the
data folder; ``client``: qdrant-client, for a Qdrant server)."""
from .ids import frame_point_id, segment_point_id
from .lock import OwnerLock, StoreLocked
from .store import COPY, COPY_DIM, FRAMES, SEGMENTS, SEMANTIC, SEMANTIC_DIM, VectorStore, open_store

__all__ = [
    "COPY",
    "COPY_DIM",
    "FRAMES",
    "SEGMENTS",
    "SEMANTIC",
    "SEMANTIC_DIM",
    "OwnerLock",
    "StoreLocked",
    "VectorStore",
    "frame_point_id",
    "open_store",
    "segment_point_id",
]
