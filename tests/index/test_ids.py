import uuid

import numpy as np

from vidsearch.index.ids import frame_point_id, segment_point_id


def test_frame_ids_are_deterministic_uuids():
    a = frame_point_id("video-1", 12.5)
    assert a == frame_point_id("video-1", 12.5)
    assert str(uuid.UUID(a)) == a
    assert uuid.UUID(a).version == 5


def test_frame_ids_differ_by_video_and_time():
    ids = {frame_point_id(v, t) for v in ("a", "b", "ab") for t in (0.0, 0.001, 1.0, 10.0)}
    assert len(ids) == 12


def test_frame_timestamp_rounded_to_milliseconds():
    assert frame_point_id("v", 1.0) == frame_point_id("v", 1.0004)
    assert frame_point_id("v", 1.0) == frame_point_id("v", 0.9996)
    assert frame_point_id("v", 1.0) != frame_point_id("v", 1.001)
    assert frame_point_id("v", 0.0) == frame_point_id("v", -0.0) == frame_point_id("v", 0)
    assert frame_point_id("v", np.float32(2.5)) == frame_point_id("v", 2.5)
    assert frame_point_id("v", np.float64(1 / 3)) == frame_point_id("v", 0.333)


def test_segment_ids():
    a = segment_point_id("video-1", 3)
    assert a == segment_point_id("video-1", 3) == segment_point_id("video-1", np.int64(3))
    assert str(uuid.UUID(a)) == a
    assert a != segment_point_id("video-1", 4)
    assert a != segment_point_id("video-2", 3)
    # frames and segments never share an id
    assert segment_point_id("v", 1) != frame_point_id("v", 1.0)
    assert segment_point_id("v", 1000) != frame_point_id("v", 1.0)


def test_ids_are_stable_across_releases():
    # Changing the namespace or the name format would orphan every stored point.
    assert frame_point_id("abc", 1.5) == FROZEN_FRAME
    assert segment_point_id("abc", 7) == FROZEN_SEGMENT


FROZEN_FRAME = "bfcbd205-0b1e-58cd-bad3-c600e4920ab9"
FROZEN_SEGMENT = "1500d8d3-2e31-55d9-a18d-7ee6892be0df"
