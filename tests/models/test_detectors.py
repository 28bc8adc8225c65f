"""Detectors that ship with OpenCV, and colour names."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")

from vidsearch.models.detectors import COLOURS, FaceDetector, PeopleDetector, colour_names, query_colours  # noqa: E402


def square(colour, background=(128, 128, 128), size=224, side=90):
    img = np.full((size, size, 3), background, np.uint8)
    a = (size - side) // 2
    img[a:a + side, a:a + side] = colour
    return img


@pytest.mark.parametrize("rgb,name", [((220, 20, 20), "red"), ((20, 60, 220), "blue"), ((30, 170, 40), "green"),
                                      ((240, 220, 30), "yellow"), ((250, 250, 250), "white")])
def test_the_salient_colour_dominates(rgb, name):
    shares = colour_names(square(rgb))
    assert max(shares, key=shares.get) == name
    assert set(shares) <= set(COLOURS)
    assert sum(shares.values()) == pytest.approx(1.0, abs=0.05)


def test_query_colours():
    assert query_colours(["a", "navy", "truck"]) == ["blue"]
    assert query_colours(["red", "and", "crimson", "gray"]) == ["red", "grey"]
    assert query_colours(["dog"]) == []


def test_people_and_faces_on_empty_frames():
    blank = [np.full((224, 300, 3), 90, np.uint8), square((200, 30, 30))]
    for det in (PeopleDetector(), FaceDetector()):
        scores, boxes = det.detect(blank)
        assert scores.shape == (2,) and np.all(scores == 0) and boxes == [[], []]
