"""EdgeStore: the index in-process, on qdrant-edge-py (Qdrant's Rust engine as a library).

Layout: ``<path>/frames`` and ``<path>/segments``, one Edge shard each (created on first use,
loaded afterwards). An Edge shard takes an exclusive lock on its write-ahead log, so one process
at a time may open the folder; a second opener gets :class:`~vidsearch.index.lock.StoreLocked`.

Configuration, chosen by measurement (synthetic 512-d unit vectors, 2 CPU cores):

* no HNSW graph (``m=0``): Edge never optimises on its own, and building a graph blocks for
  minutes on 100k points. Search scans the vectors instead.
* int8 scalar quantisation of the ``copy`` and ``concept`` vectors (the ones searched over every
  frame), kept in RAM, and every search rescored on the stored vectors (2x oversampling), so the
  scores returned are the exact cosines and the top hits the exact ones. Qdrant builds the int8
  copy when it optimises a segment, so :meth:`EdgeStore.flush` runs ``optimize()`` once
  ``OPTIMIZE_EVERY`` points were written since the last one (measured: 1.25 s for 100k points,
  i.e. about 12 us a point); points not yet optimised are scanned exactly. Measured at 100k
  frames: 3.3 ms a search instead of 8.3 ms, the same 200 hits as the exact scan.
  A store made before this keeps its own configuration (no quantisation).
* vectors stored as float16: half the memory and bandwidth of float32. At 1M frames an
  unfiltered search costs 65-85 ms of CPU (float32: 112-116 ms), 9 ms at 100k; cosine scores
  change by ~1e-4 (clamped to [-1, 1]).
* payload indexes on ``video_id`` (keyword) and ``t`` (float): a search inside one video takes
  well under 1 ms at any size.
* durability: every write goes to the shard's write-ahead log first, so what a call wrote
  survives the process dying (killed, crashed) once the call has returned -- the WAL is replayed
  on the next open (tested). Flushing the segments to disk costs 10-130 ms (100k-1M points), too
  much after every 32-frame chunk, so a write call flushes only when ``flush_interval`` seconds
  (default 2) have passed since the last flush; ``flush()`` and ``close()`` flush what was written.
* a low disk (``min_free_mb``, VIDSEARCH_MIN_FREE_MB; docs/reliability.md, issue 13): every write
  call (upsert, delete, flush, optimize) first checks that the data folder keeps that much free,
  and at least ``WRITE_HEADROOM_MB`` (the next chunk and WAL files the engine may add), and raises
  :class:`~vidsearch.diskspace.LowDiskSpace` otherwise, writing nothing; the store stays open and
  searchable (:attr:`EdgeStore.read_only`), and the next write checks again. Opening writes
  nothing to an existing store (no field index made, no flush, unless something changed). On
  tmpfs, whose mapped files' holes are allocated even when read, the shards' holes are allocated
  (``fallocate``) before each write and before opening: a disk too full for them is a clear
  ``LowDiskSpace``, never the engine's SIGBUS.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import qdrant_edge as qe

from vidsearch.diskspace import (LowDiskSpace, back_files, check_free_space, free_bytes, is_tmpfs, keep_reserve,
                                 release_reserve_if_full)
from vidsearch.records import FrameHit, Keyframe, Segment

from .lock import StoreLocked, read_holder_pid
from .store import (
    COPY,
    COPY_DIM,
    FRAMES,
    SEGMENTS,
    SEMANTIC_DIM,
    TEMPORAL,
    CONCEPT,
    CONCEPT_DIM,
    OPTIONAL_VECTORS,
    FILTER_KEYS,
    TEXT_FIELD,
    VectorStore,
    clamp_score,
    frame_hit_from_payload,
    segment_from_payload,
)

log = logging.getLogger(__name__)

_DATATYPES = {
    "float32": qe.VectorStorageDatatype.Float32,
    "float16": qe.VectorStorageDatatype.Float16,
}
_BATCH = 512  # points per update operation
QUANTIZED = (COPY, CONCEPT)  # vectors kept as int8 too, for the scan (rescored on the stored ones)
OPTIMIZE_EVERY = 4096  # points written between two optimize() calls (which build the int8 copies)
MAX_SEGMENT_KB = 131_072  # largest optimised segment (vectors), 128 MiB
_SEARCH_PARAMS = qe.SearchParams(quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0))
_PAGE = 1024  # points per scroll page
WRITE_HEADROOM_MB = 64  # free space a write keeps at least (with min_free_mb > 0): a new chunk, a WAL segment


def _is_already_open(exc: BaseException) -> bool:
    text = str(exc)
    return "WouldBlock" in text or "Can't init WAL" in text or "Resource temporarily unavailable" in text


class EdgeStore(VectorStore):
    """The two shards under ``path``.

    ``datatype`` (``"float16"`` or ``"float32"``) is how vectors are stored; it applies when the
    shards are created (an existing store keeps its own). ``lock_path``: the data folder's
    :class:`~vidsearch.index.lock.OwnerLock` file, read only to name the holder's pid when the
    shards are already open elsewhere. ``flush_interval``: seconds between automatic flushes after
    writes (0: after every write call; None: only on ``flush()``/``close()``). ``quantize``: give
    a new store int8 copies of its ``copy`` and ``concept`` vectors (an existing store keeps its own
    configuration); ``False`` is the plain exact scan, the baseline of ``bench/api.py``.
    ``min_free_mb``: free disk (MiB) every write keeps (0: no check), see the module docstring.
    ``reserve_path``: the data folder's reserve file (:func:`vidsearch.diskspace.reserve_file`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        copy_dim: int = COPY_DIM,
        semantic_dim: int = SEMANTIC_DIM,
        temporal_dim: int | None = None,
        concept_dim: int = CONCEPT_DIM,
        joint_dim: int | None = None,
        datatype: str = "float16",
        lock_path: str | Path | None = None,
        flush_interval: float | None = 2.0,
        quantize: bool = True,
        min_free_mb: float = 0.0,
        reserve_path: str | Path | None = None,
    ):
        super().__init__(copy_dim, semantic_dim, temporal_dim, concept_dim=concept_dim, joint_dim=joint_dim)
        if datatype not in _DATATYPES:
            raise ValueError(f"datatype must be one of {sorted(_DATATYPES)}, not {datatype!r}")
        self.path = Path(path)
        self.datatype = datatype
        self.lock_path = Path(lock_path) if lock_path is not None else None
        self.flush_interval = flush_interval
        self.quantize = quantize
        self.min_free_mb = float(min_free_mb)
        self._tmpfs = is_tmpfs(self.path)
        self.reserve_path = Path(reserve_path) if reserve_path is not None else None
        if self.reserve_path is not None and release_reserve_if_full(self.reserve_path):
            log.warning("the disk of %s is full: its reserve file was given back to open the store", self.path)
        self._dirty = False  # written since the last flush
        self._last_flush = time.monotonic()
        self._unoptimized = 0  # points written since the last optimize()
        self._mutex = threading.RLock()  # writes and close; searches run concurrently
        self._shards: dict[str, Any] = {}
        try:
            for name in (FRAMES, SEGMENTS):
                self._shards[name] = self._open_shard(name)
        except BaseException:
            self._close_shards()
            raise
        if self.reserve_path is not None:
            keep_reserve(self.reserve_path, self._reserve_mb())

    # Opening ---------------------------------------------------------------------------------
    def _config(self) -> "qe.EdgeConfig":
        dt = _DATATYPES[self.datatype]
        int8 = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True)
        vectors = {
            name: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, datatype=dt,
                                      quantization_config=int8 if self.quantize and name in QUANTIZED else None)
            for name, dim in self.dims.items()
        }
        no_graph = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000)
        # optimised segments of at most MAX_SEGMENT_KB, up to 16 of them before small ones merge: with
        # Qdrant's defaults every optimize() merged the new points into one big segment, rewriting the
        # whole store each time (measured: 300k points 141 s of optimize, against 16.5 s so)
        optimizers = qe.EdgeOptimizersConfig(indexing_threshold=1000, default_segment_number=16,
                                             max_segment_size=MAX_SEGMENT_KB)
        return qe.EdgeConfig(vectors=vectors, hnsw_config=no_graph, optimizers=optimizers)

    def _open_shard(self, name: str):
        folder = self.path / name
        existing = (folder / "edge_config.json").exists()
        if existing:
            self._check_dims(folder)
            if self._tmpfs:  # loading reads every mapped file whole: its holes must be backed first
                try:
                    back_files(folder)
                except LowDiskSpace as exc:
                    raise LowDiskSpace(exc.folder, exc.free, exc.reserve, exc.needed,
                                       what=f"to open the vector store in {folder}") from None
        else:
            # an empty store needs only the engine's headroom: a server starts (read-only) on a low disk
            self._check_space(f"to create the vector store in {folder}",
                              reserve=WRITE_HEADROOM_MB if self.min_free_mb > 0 else 0.0)
        try:
            shard = qe.EdgeShard.load(str(folder)) if existing else qe.EdgeShard.create(str(folder), self._config())
        except Exception as exc:
            if _is_already_open(exc):
                data_folder = self.lock_path.parent if self.lock_path is not None else self.path
                pid = read_holder_pid(self.lock_path) if self.lock_path is not None else None
                raise StoreLocked(data_folder, pid, detail=f"Qdrant Edge: {exc}") from None
            raise RuntimeError(f"cannot open the Qdrant Edge shard {folder}: {exc}") from exc
        try:
            have = shard.info().payload_schema
            if name == FRAMES:
                wanted = {"video_id": qe.PayloadSchemaType.Keyword, "t": qe.PayloadSchemaType.Float,
                          "camera": qe.PayloadSchemaType.Keyword, "wall_time": qe.PayloadSchemaType.Float,
                          TEXT_FIELD: qe.TextIndexParams(tokenizer=qe.TokenizerType.Word, lowercase=True,
                                                         min_token_len=2, max_token_len=40)}
            else:
                wanted = {"video_id": qe.PayloadSchemaType.Keyword}
            missing = {f: schema for f, schema in wanted.items() if f not in have}
            if missing and existing and not self.writable:  # searches work without; made on a later open
                missing = {}
            for field, schema in missing.items():
                shard.update(qe.UpdateOperation.create_field_index(field, schema))
            if missing or not existing:
                shard.flush()
                self._back()
        except BaseException:
            shard.close()
            raise
        return shard

    def _check_dims(self, folder: Path) -> None:
        """Refuse a store built for other dimensions; adopt its storage datatype."""
        try:
            stored = json.loads((folder / "edge_config.json").read_text())["vectors"]
        except (OSError, ValueError, KeyError, TypeError):
            return  # let the engine judge
        if TEMPORAL not in stored:  # made before segments had a temporal vector
            self.dims.pop(TEMPORAL, None)
        for name in OPTIONAL_VECTORS:  # made before text search, or without a joint model
            if name not in stored:
                self.dims.pop(name, None)
        for name, dim in self.dims.items():
            params = stored.get(name) or {}
            size = params.get("size")
            if size is not None and int(size) != dim:
                raise ValueError(
                    f"the index in {folder} stores {name!r} vectors of {size} values, not {dim}: "
                    f"it was built with another model; use another VIDSEARCH_DATA_DIR or re-index"
                )
            if name == COPY and str(params.get("datatype", "")).lower() in _DATATYPES:
                self.datatype = str(params["datatype"]).lower()

    def _shard(self, name: str):
        shard = self._shards.get(name)
        if shard is None:
            raise RuntimeError(f"the vector store in {self.path} is closed")
        return shard

    # Disk space ------------------------------------------------------------------------------
    def _reserve_mb(self) -> float:
        return max(self.min_free_mb, WRITE_HEADROOM_MB) if self.min_free_mb > 0 else 0.0

    def _check_space(self, what: str = "", reserve: float | None = None) -> None:
        """Raise LowDiskSpace unless a write may go ahead (on tmpfs: after backing the holes);
        ``reserve``: the MiB to keep free (default: the write reserve)."""
        reserve = self._reserve_mb() if reserve is None else reserve
        try:
            if self._tmpfs and self._shards:
                back_files(self.path, reserve)
            check_free_space(self.path, reserve)
        except LowDiskSpace as exc:
            raise LowDiskSpace(exc.folder, exc.free, exc.reserve, exc.needed,
                               what=what or f"to write to the vector store in {self.path}") from None

    def _back(self) -> None:
        """On tmpfs, allocate the holes the last write left, while there is room (else the next
        write or open reports it)."""
        if self._tmpfs:
            try:
                back_files(self.path)
            except LowDiskSpace:
                pass
        if self.reserve_path is not None:
            keep_reserve(self.reserve_path, self._reserve_mb())

    @property
    def read_only(self) -> bool:
        """True while the disk is too low for a write (every write raises LowDiskSpace)."""
        try:
            self._check_space()
        except LowDiskSpace:
            return True
        return False

    @property
    def writable(self) -> bool:
        return not self.read_only

    # Writing ---------------------------------------------------------------------------------
    def _upsert(self, name: str, points: list[tuple[str, dict, dict]]) -> None:
        with self._mutex:
            shard = self._shard(name)
            if points:
                self._check_space()
                self._dirty = True
            for i in range(0, len(points), _BATCH):
                batch = [qe.Point(id=pid, vector=vecs, payload=payload) for pid, vecs, payload in points[i : i + _BATCH]]
                shard.update(qe.UpdateOperation.upsert_points(batch))
            self._unoptimized += len(points)
            if points:
                self._maybe_flush()

    def upsert_frames(self, video_id: str, keyframes: list[Keyframe], *, camera=None, wall_start=None) -> None:
        self._upsert(FRAMES, self._frame_points(video_id, keyframes, camera, wall_start))

    def upsert_segments(self, video_id: str, segments: list[Segment], vectors: dict[str, np.ndarray]) -> None:
        self._upsert(SEGMENTS, self._segment_points(video_id, segments, vectors))

    def delete_video(self, video_id: str) -> None:
        with self._mutex:
            self._shard(FRAMES)
            self._check_space()
            self._dirty = True
            for name in (FRAMES, SEGMENTS):
                self._shard(name).update(qe.UpdateOperation.delete_points_by_filter(_filter(video_id)))
            self._maybe_flush()

    # Reading ---------------------------------------------------------------------------------
    def _request(self, vector_name: str, vector, limit: int, flt) -> "qe.QueryRequest":
        """A nearest-neighbour query on ``vector_name`` (int8 scan rescored, with payload)."""
        return qe.QueryRequest(limit=int(limit), query=qe.Query.Nearest(self._query_vector(vector_name, vector),
                                                                         using=vector_name),
                               filter=flt, params=_SEARCH_PARAMS, with_payload=True)

    def _nearest(self, name: str, vector_name: str, vector, limit: int, flt) -> list:
        if limit <= 0:
            self._query_vector(vector_name, vector)  # a bad vector is refused all the same
            return []
        return self._shard(name).query(self._request(vector_name, vector, limit, flt))

    def search_frames(self, vector_name, vector, limit, video_id=None, start=None, end=None, *,
                      camera=None, wall_after=None, wall_before=None, wall_ranges=None) -> list[FrameHit]:
        flt = _filter(video_id, start, end, camera=camera, wall_after=wall_after, wall_before=wall_before,
                      wall_ranges=wall_ranges)
        points = self._nearest(FRAMES, vector_name, vector, limit, flt)
        return [frame_hit_from_payload(p.payload, p.score) for p in points]

    def search_frames_many(self, vector_name, queries):
        """One ``query_batch`` over the frames shard: one planned pass for all (measured at 100k
        frames: 8 queries in 52 ms as a batch, 71 ms one by one)."""
        requests = [self._request(vector_name, q["vector"], q["limit"],
                                  _filter(q.get("video_id"), q.get("start"), q.get("end"),
                                          **{k: q.get(k) for k in FILTER_KEYS}))
                    for q in queries]
        if not requests:
            return []
        answers = self._shard(FRAMES).query_batch(qe.QueryBatchRequest(requests))
        return [[frame_hit_from_payload(p.payload, p.score) for p in points] for points in answers]

    def search_text(self, words, limit, video_id=None, start=None, end=None, *, camera=None, wall_after=None,
                    wall_before=None, wall_ranges=None) -> list[FrameHit]:
        words = [w for w in words if w]
        if not words or limit <= 0:
            return []
        flt = _filter(video_id, start, end, camera=camera, wall_after=wall_after, wall_before=wall_before,
                      wall_ranges=wall_ranges)
        cond = qe.FieldCondition(key=TEXT_FIELD, match=qe.MatchTextAny(" ".join(words)))
        flt = qe.Filter(must=[cond, *(flt.must if flt is not None else [])])
        records, _ = self._shard(FRAMES).scroll(qe.ScrollRequest(limit=int(limit), filter=flt, with_payload=True))
        return [frame_hit_from_payload(r.payload, 0.0) for r in records]

    def search_segments(self, vector_name, vector, limit, video_id=None) -> list[tuple[Segment, float]]:
        points = self._nearest(SEGMENTS, vector_name, vector, limit, _filter(video_id))
        return [(segment_from_payload(p.payload), clamp_score(p.score)) for p in points]

    def frame_records(self, video_id: str, with_vector: list[str] | None = None, start: float | None = None,
                      end: float | None = None):
        shard, offset, flt = self._shard(FRAMES), None, _filter(video_id, start, end)
        while True:
            records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=_PAGE, filter=flt, with_payload=True,
                                                            with_vector=with_vector or False))
            yield from records
            if offset is None or not records:
                break

    def frames_of(self, video_id: str) -> list[tuple[float, int, np.ndarray]]:
        out: list[tuple[float, int, np.ndarray]] = []
        for r in self.frame_records(video_id, with_vector=[COPY]):
            vec = (r.vector or {}).get(COPY)
            if vec is None:
                continue
            out.append((float(r.payload["t"]), int(r.payload["segment"]), np.asarray(vec, dtype=np.float32)))
        out.sort(key=lambda x: x[0])
        return out

    def count_frames(self, video_id: str | None = None) -> int:
        return int(self._shard(FRAMES).count(qe.CountRequest(exact=True, filter=_filter(video_id))))

    def count_segments(self, video_id: str | None = None) -> int:
        return int(self._shard(SEGMENTS).count(qe.CountRequest(exact=True, filter=_filter(video_id))))

    # Lifetime --------------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if self.flush_interval is not None and time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write the shards' segments to disk; first, once ``OPTIMIZE_EVERY`` points were written
        since the last time, :meth:`optimize`. Nothing written since the last flush: nothing to do."""
        with self._mutex:
            self._shard(FRAMES)
            if not self._dirty:
                self._last_flush = time.monotonic()
                return
            self._check_space()
            if self._unoptimized >= OPTIMIZE_EVERY:
                try:
                    self.optimize()
                except LowDiskSpace as exc:  # the points stay searchable, scanned exactly
                    log.warning("not optimising the vector store: %s", exc)
            for name in (FRAMES, SEGMENTS):
                self._shard(name).flush()
            self._dirty = False
            self._last_flush = time.monotonic()
            self._back()

    def optimize(self) -> None:
        """Let Qdrant optimise the shards: points written since the last time move into optimised
        segments, with the int8 copies that searches scan (no graph is built)."""
        with self._mutex:
            self._check_space()
            for name in (FRAMES, SEGMENTS):
                try:
                    self._shard(name).optimize()
                except Exception as exc:  # Qdrant checks the room it needs first
                    if "Not enough space" not in str(exc):
                        raise
                    raise LowDiskSpace(self.path, free_bytes(self.path), int(self._reserve_mb() * 2**20),
                                       what=f"to optimise the vector store in {self.path} (Qdrant: {exc})") from None
            self._unoptimized = 0
            self._back()

    def _close_shards(self) -> None:
        # written and not flushed: flush (optimise first) while the disk allows; else the WAL holds it
        save = bool(self._shards) and getattr(self, "_dirty", False)
        if save:
            try:
                self._check_space()
            except LowDiskSpace as exc:
                log.warning("closing the vector store without flushing it (its write-ahead log keeps the last "
                            "writes): %s", exc)
                save = False
        shards, self._shards = self._shards, {}
        errors = []
        for shard in shards.values():
            try:
                if save and getattr(self, "_unoptimized", 0):
                    try:
                        shard.optimize()
                    except Exception as exc:  # not optimised: still flushed
                        log.warning("not optimising the vector store on close: %s", exc)
                if save:
                    shard.flush()
            except Exception as exc:  # still close it
                errors.append(exc)
            try:
                shard.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def close(self) -> None:
        with self._mutex:
            self._close_shards()

    @property
    def closed(self) -> bool:
        return not self._shards

    def __del__(self):
        try:
            self._close_shards()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"EdgeStore({str(self.path)!r}, datatype={self.datatype!r}, closed={self.closed})"


def _filter(video_id: str | None = None, start: float | None = None, end: float | None = None, *,
            camera: str | None = None, wall_after: float | None = None, wall_before: float | None = None,
            wall_ranges=None):
    must: list = []
    if video_id is not None:
        must.append(qe.FieldCondition(key="video_id", match=qe.MatchValue(str(video_id))))
    if start is not None or end is not None:
        rng = qe.RangeFloat(
            gte=None if start is None else float(start),
            lte=None if end is None else float(end),
        )
        must.append(qe.FieldCondition(key="t", range=rng))
    if camera is not None:
        must.append(qe.FieldCondition(key="camera", match=qe.MatchValue(str(camera))))
    if wall_after is not None or wall_before is not None:
        rng = qe.RangeFloat(gte=None if wall_after is None else float(wall_after),
                            lte=None if wall_before is None else float(wall_before))
        must.append(qe.FieldCondition(key="wall_time", range=rng))
    if wall_ranges is not None:  # any of these spans (a time of day on every day): none matches nothing
        must.append(qe.Filter(should=[qe.FieldCondition(key="wall_time", range=qe.RangeFloat(gte=float(a), lte=float(b)))
                                      for a, b in wall_ranges] or [qe.HasIdCondition(set())]))
    return qe.Filter(must=must) if must else None
