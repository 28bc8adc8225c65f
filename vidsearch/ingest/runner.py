"""Index one video: probe -> decode -> segment -> embed -> write, timing every stage.

The runner is the unit of work. Where it runs (this process, a thread of the web server, a Celery
worker) is decided elsewhere; it only needs a catalog, a vector store and the encoders.

Crash safety: the catalog says ``indexing`` until the last point is flushed, and points have
deterministic ids, so re-running an interrupted video rewrites the same points and adds nothing.
Stale points from an earlier run with other settings are removed before writing.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vidsearch.catalog import Catalog, VideoRecord, content_id
from vidsearch.config import Settings
from vidsearch.ingest.thumbnail import save_thumbnail
from vidsearch.media import MediaError, probe, sample_frames
from vidsearch.models.encoders import Encoders
from vidsearch.records import Keyframe, Segment
from vidsearch.segment.shots import Segmenter

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
    times: dict[str, float] = field(default_factory=dict)  # seconds per stage

    def to_dict(self) -> dict:
        return asdict(self)


class _Timer:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.times[stage] = self.times.get(stage, 0.0) + now - since
        return now


def _normalise(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


class IngestRunner:
    def __init__(self, settings: Settings, catalog: Catalog, store, encoders: Encoders):
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.encoders = encoders

    # ----------------------------------------------------------------------------------
    def ingest_file(self, path: str | Path, *, force: bool = False, progress: Progress | None = None) -> IngestResult:
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

        self.catalog.upsert(
            VideoRecord(id=video_id, path=path, status="indexing", size=st.st_size, mtime=st.st_mtime,
                        added_at=rec.added_at if rec else 0.0)
        )
        try:
            result = self._index(path, video_id, progress)
        except MediaError as exc:
            return self._fail(path, video_id, str(exc))
        except Exception as exc:  # a bug or an environment failure: this video fails, the batch goes on
            log.exception("indexing %s failed", path)
            return self._fail(path, video_id, f"{path}: internal error: {type(exc).__name__}: {exc}")
        return result

    def _fail(self, path: str, video_id: str, error: str) -> IngestResult:
        self.store.delete_video(video_id)
        shutil.rmtree(self.settings.thumbnails_dir / video_id, ignore_errors=True)
        self.catalog.set_status(video_id, "failed", error=error)
        return IngestResult(path, "failed", video_id=video_id, error=error)

    # ----------------------------------------------------------------------------------
    def _index(self, path: str, video_id: str, progress: Progress | None) -> IngestResult:
        s = self.settings
        timer = _Timer()
        t0 = time.perf_counter()
        info = probe(path)
        t0 = timer.add("probe", t0)
        self.store.delete_video(video_id)  # leftovers of an interrupted or older run
        thumbs = s.thumbnails_dir / video_id
        shutil.rmtree(thumbs, ignore_errors=True)
        thumbs.mkdir(parents=True, exist_ok=True)

        segmenter = Segmenter(video_id, max_segment=s.max_segment, shot_threshold=s.shot_threshold,
                              static_change=s.static_change)
        period = 1.0 / s.sample_fps
        sums: dict[int, dict[str, np.ndarray]] = {}  # per segment: sum of keyframe vectors
        ready: list[Keyframe] = []  # embedded keyframes whose span is known, not yet written
        last_key: Keyframe | None = None
        n_samples = n_keys = n_segments = 0

        frames_iter = sample_frames(path, info, fps=s.sample_fps, short_side=s.frame_size,
                                    chunk=s.decode_chunk, timeout=s.decode_timeout)
        t0 = time.perf_counter()
        for chunk in frames_iter:
            t0 = timer.add("decode", t0)
            new_keys: list[Keyframe] = []
            images: list[np.ndarray] = []
            closed: list[Segment] = []
            for frame in chunk:
                n_samples += 1
                d = segmenter.push(frame)
                for seg in d.closed:
                    if last_key is not None and last_key.segment_index == seg.index and last_key.until is None:
                        last_key.until = seg.end
                    closed.append(seg)
                if d.keyframe:
                    if last_key is not None and last_key.until is None:
                        last_key.until = frame.timestamp
                    last_key = Keyframe(timestamp=frame.timestamp, segment_index=d.segment_index)
                    new_keys.append(last_key)
                    images.append(frame.image)
                if d.opened is not None:
                    d.opened.thumbnail = str(save_thumbnail(frame.image, thumbs / f"{d.opened.index:05d}.jpg"))
            t0 = timer.add("segment", t0)

            if images:
                vectors = self.encoders.embed(images)
                for i, key in enumerate(new_keys):
                    key.copy = vectors["copy"][i]
                    key.semantic = vectors["semantic"][i] if "semantic" in vectors else None
                    acc = sums.setdefault(key.segment_index, {})
                    for name, arr in vectors.items():
                        acc[name] = acc.get(name, 0) + arr[i]
                ready.extend(new_keys)
                n_keys += len(new_keys)
            t0 = timer.add("embed", t0)

            ready = self._write_ready(video_id, ready)
            n_segments += self._write_segments(video_id, closed, sums)
            t0 = timer.add("write", t0)
            if progress is not None and chunk:
                progress(min(chunk[-1].timestamp + period, info.duration), info.duration)
            t0 = time.perf_counter()

        if n_samples == 0:
            raise MediaError(path, "no frame could be decoded")
        final = segmenter.finish(max(info.duration, (last_key.timestamp + period) if last_key else 0.0))
        for seg in final:
            if last_key is not None and last_key.segment_index == seg.index and last_key.until is None:
                last_key.until = seg.end
        self._write_ready(video_id, ready)
        n_segments += self._write_segments(video_id, final, sums)
        self.store.flush()
        t0 = timer.add("write", t0)

        self.catalog.set_status(
            video_id, "indexed", frames=n_keys, segments=n_segments, duration=info.duration, fps=info.fps,
            width=info.display_width, height=info.display_height, info=asdict(info),
        )
        if progress is not None:
            progress(info.duration, info.duration)
        return IngestResult(path, "indexed", video_id=video_id, duration=info.duration, samples=n_samples,
                            keyframes=n_keys, segments=n_segments, times=timer.times)

    def _write_ready(self, video_id: str, ready: list[Keyframe]) -> list[Keyframe]:
        """Write the keyframes whose span is known; return the rest."""
        done = [k for k in ready if k.until is not None]
        if done:
            self.store.upsert_frames(video_id, done)
        return [k for k in ready if k.until is None]

    def _write_segments(self, video_id: str, closed: list[Segment], sums: dict[int, dict[str, np.ndarray]]) -> int:
        if not closed:
            return 0
        names = sorted({name for seg in closed for name in sums.get(seg.index, {})})
        vectors = {name: _normalise(np.stack([sums[seg.index][name] for seg in closed])) for name in names}
        self.store.upsert_segments(video_id, closed, vectors)
        for seg in closed:
            sums.pop(seg.index, None)
        return len(closed)
