"""Split a stream of sampled frames into segments and pick the keyframes worth embedding.

A segment is a shot, cut further when it runs past ``max_segment`` seconds. A shot boundary is
declared when the colour histogram of two consecutive samples changes by more than
``shot_threshold`` (a content detector in the manner of PySceneDetect's, on the sampled frames).

Inside a segment, a sample that is nearly identical to the segment's last *keyframe* (at most
``static_change`` of its thumbnail pixels changed) is not a keyframe: it is not embedded, and the
previous keyframe's span just extends over it. An hour of an empty corridor therefore yields a
handful of keyframes, while every second of a busy street yields one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from vidsearch.records import Frame, Segment
from vidsearch.segment.signature import Signature, changed_fraction, histogram_distance, signature


@dataclass
class Decision:
    """What the segmenter decided about one pushed frame."""

    keyframe: bool  # embed this frame
    segment_index: int  # the segment the frame belongs to
    closed: list[Segment] = field(default_factory=list)  # segments that ended before this frame
    opened: Segment | None = None  # the segment this frame started, if it started one


class Segmenter:
    """Streaming: ``push`` frames in time order, then ``finish`` with the video's end time."""

    def __init__(self, video_id: str, *, max_segment: float, shot_threshold: float, static_change: float,
                 index_of: Callable[[float], int] | None = None):
        """``index_of(start)`` numbers segments (default: 0, 1, 2, ... in order)."""
        self.video_id = video_id
        self.index_of = index_of
        self.max_segment = max_segment
        self.shot_threshold = shot_threshold
        self.static_change = static_change
        self._current: Segment | None = None
        self._prev: Signature | None = None
        self._last_key: Signature | None = None
        self._next_index = 0

    def _open(self, t: float) -> Segment:
        index = self.index_of(t) if self.index_of else self._next_index
        seg = Segment(video_id=self.video_id, index=index, start=t, end=t)
        self._next_index += 1
        self._current = seg
        return seg

    def push(self, frame: Frame) -> Decision:
        sig = signature(frame.image)
        closed: list[Segment] = []
        cur = self._current
        if cur is not None:
            cut = self._prev is not None and histogram_distance(sig, self._prev) > self.shot_threshold
            too_long = frame.timestamp - cur.start >= self.max_segment
            if cut or too_long:
                cur.end = frame.timestamp
                closed.append(cur)
                cur = None
        self._prev = sig
        opened = None
        if cur is None:
            cur = opened = self._open(frame.timestamp)
            keyframe = True
        else:
            keyframe = changed_fraction(sig, self._last_key) > self.static_change
        if keyframe:
            cur.keyframes.append(frame.timestamp)
            self._last_key = sig
        cur.end = frame.timestamp
        return Decision(keyframe=keyframe, segment_index=cur.index, closed=closed, opened=opened)

    def finish(self, end_time: float) -> list[Segment]:
        """Close the last segment at ``end_time`` (the video's duration)."""
        if self._current is None:
            return []
        seg, self._current = self._current, None
        seg.end = max(seg.end, end_time)
        return [seg]
