"""Sampled frames of one video -> embedded keyframes and finished segments (compute only, no I/O
except thumbnails).

The same object serves a whole video in one process and one chunk of a video in a worker: feed it
frames in time order, and each call hands back a :class:`Batch` of what became final, ready to be
written to the vector store by whoever owns it.

Segment indexes are the segment's start time in milliseconds, so they are unique in a video and
the same whichever process, or chunk, found the segment.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsearch.config import Settings
from vidsearch.ingest.thumbnail import save_thumbnail
from vidsearch.models.temporal import SegmentSteps
from vidsearch.records import Frame, Keyframe, Segment
from vidsearch.segment.shots import Segmenter


@dataclass
class Batch:
    """Keyframes whose span is known and segments that ended, with one vector row per segment."""

    keyframes: list[Keyframe] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    segment_vectors: dict[str, np.ndarray] = field(default_factory=dict)


def _normalise(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


class SpanIndexer:
    def __init__(self, settings: Settings, encoders, video_id: str, thumbnails: Path):
        self.encoders = encoders
        self.video_id = video_id
        self.thumbnails = thumbnails
        self.period = 1.0 / settings.sample_fps
        self.segmenter = Segmenter(video_id, max_segment=settings.max_segment,
                                   shot_threshold=settings.shot_threshold, static_change=settings.static_change,
                                   index_of=lambda start: int(round(start * 1000)))
        self.times: dict[str, float] = {"segment": 0.0, "embed": 0.0}
        self.samples = 0
        self.keyframes = 0
        self._pending: list[Keyframe] = []  # embedded, span not yet known
        self._sums: dict[int, dict[str, np.ndarray]] = {}  # per open segment: sum of keyframe vectors
        self._last: Keyframe | None = None
        self._end = 0.0
        # the temporal segment encoder's per-step inputs of the open segments (None: mean only)
        self._steps = None
        if settings.segment_encoder == "temporal":
            if getattr(encoders, "temporal", None) is None:
                raise ValueError("VIDSEARCH_SEGMENT_ENCODER=temporal, but the encoders were built without it")
            self._steps = SegmentSteps(encoders.temporal)
        # text on screen (OCR) for text search: per video, only keyframes whose picture or text changed,
        # at most one read per VIDSEARCH_OCR_INTERVAL seconds, fewer while reads find nothing (OCR_BACKOFF)
        self._ocr = getattr(encoders, "ocr", None)
        self._ocr_gate = None
        if self._ocr is not None:
            from vidsearch.models.ocr import OcrGate

            self._ocr_gate = OcrGate(min_interval=settings.ocr_interval, max_interval=settings.ocr_backoff)

    def _close_last(self, seg: Segment) -> None:
        if self._last is not None and self._last.segment_index == seg.index and self._last.until is None:
            self._last.until = seg.end

    def feed(self, frames: list[Frame]) -> Batch:
        t0 = time.perf_counter()
        new: list[Keyframe] = []
        images: list[np.ndarray] = []
        larges: list[np.ndarray | None] = []  # the same frames at VIDSEARCH_OCR_SIZE (OCR reads its boxes there)
        closed: list[Segment] = []
        for frame in frames:
            self.samples += 1
            self._end = frame.timestamp + self.period
            d = self.segmenter.push(frame)
            for seg in d.closed:
                self._close_last(seg)
                closed.append(seg)
            if d.opened is not None:
                d.opened.thumbnail = str(save_thumbnail(frame.image, self.thumbnails / f"{d.opened.index:05d}.jpg"))
            if d.keyframe:
                if self._last is not None and self._last.until is None:
                    self._last.until = frame.timestamp
                self._last = Keyframe(timestamp=frame.timestamp, segment_index=d.segment_index)
                new.append(self._last)
                images.append(frame.image)
                larges.append(frame.large)
            if self._steps is not None:
                self._steps.push(d.segment_index, self._last, frame.image, opened=d.opened is not None)
        t1 = time.perf_counter()
        self.times["segment"] += t1 - t0
        if images:
            steps: dict[str, float] = {}
            ocr_job = None
            if self._ocr is not None:  # tesseract reads (another process) while the encoders embed
                t2 = time.perf_counter()
                chosen = self._ocr_gate.select(images, [k.timestamp for k in new])
                ocr_job = self._ocr.start([images[i] for i, _ in chosen], [boxes for _, boxes in chosen],
                                          [larges[i] for i, _ in chosen])
                steps["ocr"] = time.perf_counter() - t2
            analyse = getattr(self.encoders, "analyse", None)
            try:
                if analyse is not None:
                    vectors, payloads = analyse(images, steps)
                else:
                    vectors, payloads = self.encoders.embed(images), [{} for _ in images]
            except BaseException:
                if ocr_job is not None:
                    ocr_job.cancel()
                raise
            if ocr_job is not None:
                t2 = time.perf_counter()  # "ocr": selecting and cropping, plus the wait beyond the embedding
                texts = ocr_job.result()
                self._ocr_gate.heard(texts)
                for (i, _), text in zip(chosen, texts):
                    if text:
                        payloads[i]["text"] = text
                steps["ocr"] += time.perf_counter() - t2
            for name in ("detect", "concept", "ocr"):
                if name in steps:
                    self.times[name] = self.times.get(name, 0.0) + steps[name]
                    t1 += steps[name]  # not embedding time
            for i, key in enumerate(new):
                key.copy = vectors["copy"][i]
                key.semantic = vectors["semantic"][i] if "semantic" in vectors else None
                key.concept = vectors["concept"][i] if "concept" in vectors else None
                key.joint = vectors["joint"][i] if "joint" in vectors else None
                key.payload.update(payloads[i])
                acc = self._sums.setdefault(key.segment_index, {})
                for name, arr in vectors.items():
                    acc[name] = acc.get(name, 0) + arr[i]
            self._pending.extend(new)
            self.keyframes += len(new)
        if self._steps is not None:
            self._steps.flush()
        self.times["embed"] += time.perf_counter() - t1
        return self._batch(closed)

    def finish(self, end_time: float | None = None) -> Batch:
        """Close the last segment at ``end_time`` (default: one sample period after the last frame)."""
        closed = self.segmenter.finish(max(end_time or 0.0, self._end))
        for seg in closed:
            self._close_last(seg)
        return self._batch(closed)

    def _batch(self, closed: list[Segment]) -> Batch:
        ready = [k for k in self._pending if k.until is not None]
        self._pending = [k for k in self._pending if k.until is None]
        vectors: dict[str, np.ndarray] = {}
        if closed:
            names = sorted({name for seg in closed for name in self._sums.get(seg.index, {})})
            vectors = {n: _normalise(np.stack([self._sums[s.index][n] for s in closed])) for n in names}
            for seg in closed:
                self._sums.pop(seg.index, None)
            if self._steps is not None:
                t0 = time.perf_counter()
                vectors["temporal"] = self._steps.close([seg.index for seg in closed])
                self.times["embed"] += time.perf_counter() - t0
        return Batch(keyframes=ready, segments=closed, segment_vectors=vectors)
