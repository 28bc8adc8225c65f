"""Plain records that travel between the stages (media -> segment -> models -> index -> search).

The result shape that the CLI and the HTTP API print is defined once, here: :meth:`Moment.to_dict`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What probing a file found out, before any frame is decoded."""

    path: str
    container: str
    codec: str
    duration: float  # seconds of video (the video stream's, not the container's when they differ)
    fps: float  # average frame rate
    frame_count: int  # frames in the video stream (estimated when the container does not say)
    width: int  # coded width in pixels
    height: int  # coded height in pixels
    display_width: int  # after pixel aspect ratio and rotation
    display_height: int
    rotation: int = 0  # degrees clockwise the frames must be turned for display (0/90/180/270)
    sample_aspect: float = 1.0  # pixel aspect ratio (SAR)
    variable_frame_rate: bool = False
    video_streams: int = 1
    audio_streams: int = 0
    subtitle_streams: int = 0
    creation_time: str | None = None  # ISO-8601 from container metadata, when present


@dataclass
class Frame:
    """One sampled, decoded frame: RGB uint8, already rotated and aspect-corrected."""

    timestamp: float  # seconds from the start of the video
    image: np.ndarray  # H x W x 3, uint8, RGB
    # the same frame at a larger size (short side VIDSEARCH_OCR_SIZE, at most the source's), for
    # reading text on screen; None when not asked for (or not larger than ``image``)
    large: np.ndarray | None = None


@dataclass
class Keyframe:
    """A frame that was embedded: the representative of a run of near-identical samples."""

    timestamp: float
    segment_index: int
    until: float | None = None  # end (exclusive) of the run of samples this keyframe stands for
    copy: np.ndarray | None = None  # copy-detection descriptor (SSCD), L2-normalised
    semantic: np.ndarray | None = None  # semantic embedding (EfficientNet), L2-normalised
    concept: np.ndarray | None = None  # concept vector (ConSE over MiniLM class names), L2-normalised
    joint: np.ndarray | None = None  # CLIP-family image embedding, when such a model is configured
    payload: dict[str, Any] = field(default_factory=dict)  # extra frame payload: text, concepts, colours


@dataclass
class Segment:
    """A shot (or a piece of a long shot) of one video."""

    video_id: str
    index: int
    start: float
    end: float
    keyframes: list[float] = field(default_factory=list)
    thumbnail: str | None = None  # path of a JPEG in the data folder


@dataclass(frozen=True)
class FrameHit:
    """One stored frame returned by a vector search."""

    video_id: str
    timestamp: float
    segment_index: int
    score: float
    until: float | None = None  # end of the run of samples the stored keyframe stands for
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # other payload (text, concepts)


@dataclass
class Moment:
    """A span of one video that answers a query. ``to_dict`` is the public result shape."""

    video_id: str
    path: str
    start: float
    end: float
    timestamp: float  # best-matching frame inside [start, end]
    score: float
    thumbnail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. query_start/query_end, why

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "video_id": self.video_id,
            "path": self.path,
            "start": round(float(self.start), 3),
            "end": round(float(self.end), 3),
            "timestamp": round(float(self.timestamp), 3),
            "score": round(float(self.score), 4),
            "thumbnail": self.thumbnail,
        }
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Match:
    """A span of a query that is a copy of a span of an indexed video (the de-duplication answer).

    Times are seconds in each video's own timeline. ``to_dict`` is the public dedup shape."""

    video_id: str
    path: str
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    score: float  # calibrated copy score: a copy when >= the dedup threshold (docs/dedup.md)
    query_video_id: str | None = None  # set when the query is itself an indexed video (dedup --all)
    query_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "video_id": self.video_id,
            "path": self.path,
            "ref_start": round(float(self.ref_start), 3),
            "ref_end": round(float(self.ref_end), 3),
            "query_start": round(float(self.query_start), 3),
            "query_end": round(float(self.query_end), 3),
            "score": round(float(self.score), 4),
        }
        if self.query_video_id is not None:
            out["query_video_id"] = self.query_video_id
            out["query_path"] = self.query_path
        return out
