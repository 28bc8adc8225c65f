"""Index one video: probe -> decode -> segment -> embed -> write, timing every stage.

The runner is the unit of work. Where it runs (this process, a thread of the web server, a Celery
worker) is decided elsewhere; it only needs a catalog, a vector store and the encoders.

A full disk: free space is checked before the job and again before each chunk is written (the
store checks before every write too), so an ingest that fills the disk stops with a
:class:`~vidsearch.diskspace.LowDiskSpace` error naming the file, and what was indexed stays.

Times: ``IngestResult.times`` gives seconds per stage (``decode`` is the wait for the decoder, which
runs ahead in a thread, so stages overlap and do not add up) and ``total``, the file's wall
seconds from the first probe to the last write (``vidsearch ingest --json``).

Crash safety: the catalog says ``indexing`` until the last point is flushed, and points have
deterministic ids, so re-running an interrupted video rewrites the same points and adds nothing.
Stale points from an earlier run with other settings are removed before writing. The order of the
writes: record ``indexing`` (SQLite, synchronous) -> old points and thumbnails removed -> each
segment's thumbnail written (atomically) before its points -> points flushed -> record ``indexed``
with its counts. A process killed anywhere in it leaves the record ``indexing``, which
:meth:`vidsearch.library.Library.resume` (``vidsearch ingest``) and the web server's job queue pick
up again; tests/test_crash_safety.py kills real ingesting processes to check it.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from vidsearch.catalog import Catalog, VideoRecord, content_id
from vidsearch.config import Settings
from vidsearch.diskspace import LowDiskSpace, check_free_space
from vidsearch.ingest.indexer import Batch, SpanIndexer
from vidsearch.media import MediaError, prefetched, probe, sample_frames
from vidsearch.models.encoders import Encoders

log = logging.getLogger(__name__)

Progress = Callable[[float, float], None]  # (seconds of video done, duration)


@dataclass
class IngestResult:
    path: str
    status: str  # indexed | skipped | failed
    video_id: str | None = None
    error: str | None = None
    duration: float = 0.0
    samples: int = 0
    keyframes: int = 0
    segments: int = 0
    times: dict[str, float] = field(default_factory=dict)  # seconds per stage; "total": the file's wall seconds

    def to_dict(self) -> dict:
        return asdict(self)


class IngestRunner:
    def __init__(self, settings: Settings, catalog: Catalog, store, encoders: Encoders,
                 on_indexed: Callable[[str], object] | None = None):
        """``on_indexed(video_id)``: called once a video is indexed (the watchlists check it)."""
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.encoders = encoders
        self.on_indexed = on_indexed

    # ----------------------------------------------------------------------------------
    def ingest_file(self, path: str | Path, *, force: bool = False, progress: Progress | None = None,
                    camera: str | None = None, wall_start: float | None = None) -> IngestResult:
        """``camera``/``wall_start`` (a recording's camera label and wall-clock start, seconds since
        the epoch) go into the catalog and into every frame's payload (``camera``, ``wall_time``)."""
        path = os.path.abspath(path)
        try:
            st = os.stat(path)
        except OSError as exc:
            return IngestResult(path, "failed", error=str(MediaError(path, exc.strerror or str(exc))))
        if not os.path.isfile(path):
            return IngestResult(path, "failed", error=str(MediaError(path, "not a regular file")))

        seen = self.catalog.find_unchanged(path, st.st_size, st.st_mtime)
        if seen is not None and seen.status == "indexed" and not force:
            return IngestResult(path, "skipped", video_id=seen.id, duration=seen.duration or 0.0)
        video_id = content_id(path)
        rec = self.catalog.get(video_id)
        if rec is not None and rec.status == "indexed" and not force:
            if rec.path != path and not os.path.exists(rec.path):
                self.catalog.upsert(VideoRecord(**{**asdict(rec), "path": path, "size": st.st_size, "mtime": st.st_mtime}))
            return IngestResult(path, "skipped", video_id=video_id, duration=rec.duration or 0.0)

        try:  # refused before anything is written: a full disk must not leave a half-written store
            check_free_space(self.settings.data_dir, self.settings.min_free_mb)
        except LowDiskSpace as exc:
            return IngestResult(path, "failed", video_id=video_id, error=f"{path}: refused: {exc}")
        self.catalog.upsert(
            VideoRecord(id=video_id, path=path, status="indexing", size=st.st_size, mtime=st.st_mtime,
                        added_at=rec.added_at if rec else 0.0, camera=camera, wall_start=wall_start)
        )
        try:
            result = self._index(path, video_id, progress, {"camera": camera, "wall_start": wall_start})
        except MediaError as exc:
            return self.fail(path, video_id, str(exc))
        except LowDiskSpace as exc:  # the disk filled up while indexing: stop writing, say so
            log.warning("indexing %s stopped: %s", path, exc)
            return self.fail(path, video_id, f"{path}: stopped: {exc}")
        except Exception as exc:  # a bug or an environment failure: this video fails, the batch goes on
            log.exception("indexing %s failed", path)
            return self.fail(path, video_id, f"{path}: internal error: {type(exc).__name__}: {exc}")
        return result

    def fail(self, path: str, video_id: str, error: str) -> IngestResult:
        """Record ``video_id`` as failed with ``error``, removing whatever of it was written (on a
        disk too low for even that, its points stay until it is indexed again; searches skip them)."""
        try:
            self.store.delete_video(video_id)
        except LowDiskSpace as exc:
            log.warning("the points of %s stay in the store for now: %s", video_id, exc)
        shutil.rmtree(self.settings.thumbnails_dir / video_id, ignore_errors=True)
        self.catalog.set_status(video_id, "failed", error=error)
        return IngestResult(path, "failed", video_id=video_id, error=error)

    # ----------------------------------------------------------------------------------
    def _index(self, path: str, video_id: str, progress: Progress | None, meta: dict | None = None) -> IngestResult:
        s = self.settings
        times: dict[str, float] = {"probe": 0.0, "decode": 0.0, "write": 0.0}
        t0 = started = time.perf_counter()
        info = probe(path)
        times["probe"] = time.perf_counter() - t0
        self.store.delete_video(video_id)  # leftovers of an interrupted or older run
        thumbs = s.thumbnails_dir / video_id
        shutil.rmtree(thumbs, ignore_errors=True)
        thumbs.mkdir(parents=True, exist_ok=True)

        indexer = SpanIndexer(s, self.encoders, video_id, thumbs)
        segments = 0
        # the next chunk decodes while this one is embedded ("decode" is the wait for it)
        # OCR reads its text boxes from a larger copy of each sampled frame (VIDSEARCH_OCR_SIZE)
        large_side = s.ocr_size if s.ocr and s.ocr_size > s.frame_size else 0
        frames = prefetched(sample_frames(path, info, fps=s.sample_fps, short_side=s.frame_size, chunk=s.decode_chunk,
                                          timeout=s.decode_timeout, decoder=s.decoder, large_side=large_side,
                                          keyframes=s.keyframe_sampling, skip_loop_filter=s.skip_loop_filter,
                                          skip_bframes=s.skip_bframes),
                            depth=1)
        t0 = time.perf_counter()
        for chunk in frames:
            times["decode"] += time.perf_counter() - t0
            check_free_space(s.data_dir, s.min_free_mb)  # before each chunk's thumbnails and points
            batch = indexer.feed(chunk)
            t0 = time.perf_counter()
            segments += self._write(video_id, batch, meta)
            times["write"] += time.perf_counter() - t0
            if progress is not None and chunk:
                progress(min(chunk[-1].timestamp, info.duration), info.duration)
            t0 = time.perf_counter()
        if indexer.samples == 0:
            raise MediaError(path, "no frame could be decoded")
        batch = indexer.finish(info.duration)
        t0 = time.perf_counter()
        segments += self._write(video_id, batch, meta)
        self.store.flush()
        times["write"] += time.perf_counter() - t0
        times.update(indexer.times)

        self.catalog.set_status(
            video_id, "indexed", frames=indexer.keyframes, segments=segments, duration=info.duration,
            fps=info.fps, width=info.display_width, height=info.display_height, info=asdict(info),
        )
        times["total"] = time.perf_counter() - started  # first probe to last write (stages overlap)
        if progress is not None:
            progress(info.duration, info.duration)
        if self.on_indexed is not None:
            try:  # a watchlist problem never fails an indexed video
                self.on_indexed(video_id)
            except Exception:
                log.exception("after indexing %s: the watchlist check failed", path)
        return IngestResult(path, "indexed", video_id=video_id, duration=info.duration, samples=indexer.samples,
                            keyframes=indexer.keyframes, segments=segments, times=times)

    def _write(self, video_id: str, batch: Batch, meta: dict | None = None) -> int:
        """Write what a batch made final; return the number of segments written."""
        if batch.keyframes:
            extra = {k: v for k, v in (meta or {}).items() if v is not None}  # plain calls stay plain
            self.store.upsert_frames(video_id, batch.keyframes, **extra)
        if batch.segments:
            self.store.upsert_segments(video_id, batch.segments, batch.segment_vectors)
        return len(batch.segments)
