"""The pluggable CLIP-family backend, tested with a tiny randomly initialised CLIP that the test
creates and saves (no weights are downloaded: none can be here)."""
from __future__ import annotations

import numpy as np
import pytest

from vidsearch.models.joint import JointModel, choose_backend

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "dog", "cat", "photo", "of", "red", "car", "exit", "sign"]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A transformers CLIPModel (2 layers, width 32, 16-d projection, 32-px images) with a
    WordPiece tokenizer and a CLIP image processor, saved like any Hugging Face model folder."""
    transformers = pytest.importorskip("transformers")
    import torch

    folder = tmp_path_factory.mktemp("tiny-clip")
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    torch.manual_seed(0)
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=len(WORDS), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, pad_token_id=0, bos_token_id=2,
                         eos_token_id=3),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                           num_attention_heads=4),
        projection_dim=16)
    transformers.CLIPModel(cfg).save_pretrained(folder)
    transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_backend_choice(tmp_path):
    (tmp_path / "oc").mkdir()
    (tmp_path / "oc" / "open_clip_config.json").write_text("{}")
    assert choose_backend(str(tmp_path / "oc")) == "open_clip"
    assert choose_backend(str(tmp_path)) == "transformers"
    assert choose_backend("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K") == "open_clip"
    assert choose_backend("ViT-B-32:laion2b_s34b_b79k") == "open_clip"
    assert choose_backend("openai/clip-vit-base-patch32") == "transformers"
    assert choose_backend("anything", "open_clip") == "open_clip"
    with pytest.raises(ValueError):
        choose_backend("x", "onnx")


def test_tiny_clip_loads_and_embeds_both_towers(tiny_clip):
    m = JointModel(str(tiny_clip))
    assert m.backend == "transformers" and m.dim == 16
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), np.zeros((100, 80, 3), np.uint8)]
    iv = m.encode_images(images)
    tv = m.encode_texts(["a photo of a dog", "red car"])
    assert iv.shape == (2, 16) and tv.shape == (2, 16)
    assert np.allclose(np.linalg.norm(iv, axis=1), 1, atol=1e-5) and np.allclose(np.linalg.norm(tv, axis=1), 1, atol=1e-5)
    assert not np.allclose(iv[0], iv[1]) and not np.allclose(tv[0], tv[1])
    assert np.allclose(m.encode_texts(["a photo of a dog"])[0], tv[0], atol=1e-5)  # deterministic
    assert m.encode_images([]).shape == (0, 16)


def test_library_with_a_joint_model(tiny_clip, tmp_path, video_factory):
    """Ingest stores the "joint" vector per frame and segment; text and image queries use it."""
    pytest.importorskip("sentence_transformers")
    from vidsearch.config import Settings
    from vidsearch.index.store import JOINT
    from vidsearch.library import Library

    settings = Settings.from_env({"VIDSEARCH_DATA_DIR": str(tmp_path / "data"), "VIDSEARCH_JOINT_MODEL": str(tiny_clip),
                                  "VIDSEARCH_OCR": "0"})
    video = video_factory("pattern.mp4", duration=3)
    with Library(settings) as lib:
        assert lib.store.dims[JOINT] == 16
        res = next(lib.ingest([video]))
        assert res.status == "indexed", res.error
        tv = lib.encoders.joint.encode_texts(["red car"])[0]
        hits = lib.store.search_frames(JOINT, tv, 10)
        assert len(hits) == lib.store.count_frames() > 0
        assert lib.store.search_segments(JOINT, tv, 10)
        # text search fuses the joint signal; every answer is a moment of the video
        moments = lib.search_text("red car", limit=3, include_weak=True)  # a random model: weak scores
        assert moments and all(m.video_id == res.video_id for m in moments)
        # image-to-image semantic search goes through the joint image tower
        from vidsearch.search.semantic import search_image_semantic

        frame = np.zeros((120, 160, 3), np.uint8)
        sem = search_image_semantic(frame, encoders=lib.encoders, store=lib.store, catalog=lib.catalog,
                                    settings=settings, limit=2)
        assert sem and "image-text model" in sem[0].extra["why"][0]
