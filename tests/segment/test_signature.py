import numpy as np

from vidsearch.segment.signature import changed_fraction, histogram_distance, signature


def _scene(colour, size=(180, 320)):
    img = np.zeros((*size, 3), np.uint8)
    img[:] = colour
    return img


def test_histogram_distance_separates_colours_and_ignores_small_motion():
    red, blue = _scene((200, 30, 30)), _scene((30, 30, 200))
    assert histogram_distance(signature(red), signature(blue)) > 0.9
    moved = red.copy()
    moved[10:30, 10:30] = 255
    assert histogram_distance(signature(red), signature(moved)) < 0.05


def test_changed_fraction_sees_a_small_object_but_not_brightness_drift():
    rng = np.random.default_rng(0)
    base = rng.integers(60, 200, (180, 320, 3), dtype=np.uint8)
    brighter = np.clip(base.astype(int) + 12, 0, 255).astype(np.uint8)
    assert changed_fraction(signature(base), signature(brighter)) < 0.002
    with_person = base.copy()
    with_person[60:120, 100:125] = 10  # a dark figure, ~2.6 % of the frame
    assert changed_fraction(signature(base), signature(with_person)) > 0.01
