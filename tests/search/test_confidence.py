from vidsearch.records import Moment
from vidsearch.search.confidence import LEVELS, confidence, labeller


def test_each_query_kind_says_how_sure_in_words():
    for kind, lv in LEVELS.items():
        assert confidence(kind, lv.floor - 0.01) == "weak" or lv.floor == 0.0
        if lv.same is not None:
            assert confidence(kind, lv.same) == "same footage"
            assert confidence(kind, (lv.floor + lv.same) / 2) == "similar"
    assert confidence("text", 0.9) == "similar"  # text never claims the same footage


def test_copy_results_say_why_in_plain_words():
    def labelled(score, kind="image"):
        m = Moment("v", "/v.mp4", 0.0, 1.0, 0.5, score)
        labeller(kind)(m)
        return m.extra["confidence"], m.extra["why"]

    assert labelled(0.97) == ("same footage", ["same picture"])
    assert labelled(0.6) == ("same footage", ["same picture (edited)"])
    assert labelled(0.35)[0] == "similar" and labelled(0.1)[0] == "weak"
    assert all(not any(c.isdigit() for c in w) for s in (0.97, 0.6, 0.35, 0.1) for w in labelled(s)[1])
