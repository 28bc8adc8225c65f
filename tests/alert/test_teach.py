import numpy as np

from vidsearch.alert import teach


def _blobs(rng, centre, n, dim):
    x = centre + 0.3 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_probe_and_prototype_separate_two_kinds_of_frames():
    rng = np.random.default_rng(0)
    c1, c2 = rng.standard_normal(64), rng.standard_normal(64)
    pos = {"copy": _blobs(rng, c1, 20, 64)}
    neg = {"copy": _blobs(rng, c2, 200, 64)}
    test_pos, test_neg = {"copy": _blobs(rng, c1, 50, 64)}, {"copy": _blobs(rng, c2, 50, 64)}
    for method in teach.METHODS:
        model = teach.fit(pos, neg, method)
        thr = teach.default_threshold(model, pos, neg)
        assert (teach.score_frames(model, test_pos) >= thr).mean() > 0.95, method
        assert (teach.score_frames(model, test_neg) < thr).mean() > 0.95, method


def test_threshold_from_marks_maximises_f1():
    marks = [{"score": s, "right": r} for s, r in [(0.9, 1), (0.8, 1), (0.7, 0), (0.6, 1), (0.5, 0), (0.4, 0)]]
    assert teach.fit_threshold(marks, 0.3) == 0.6
    assert teach.precision(marks, 0.6) == 0.75
    assert teach.fit_threshold([{"score": 0.5, "right": 0}], 0.3) > 0.5  # only wrong: above them
