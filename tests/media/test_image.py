"""Query pictures cost what their result needs (vidsearch/media/image.py; docs/reliability.md,
"Hostile use (issue 13): query images")."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from vidsearch.media.errors import TooLarge
from vidsearch.media.image import load_image, resize_short_side


def png(width: int, height: int, *, colour: bool = False) -> bytes:
    """A PNG written row by row (never whole in memory): 8-bit grey, or RGB; blocks of 64 px
    in a few grey levels, so it compresses to almost nothing."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = 3 if colour else 1
    z, parts = zlib.compressobj(9), []
    band = ((np.arange(width) // 64) % 4 * 60).astype(np.uint8)
    for y in range(height):
        row = (band + (y // 64) % 3 * 20).astype(np.uint8)
        parts.append(z.compress(b"\x00" + np.repeat(row, channels).tobytes()))
    parts.append(z.flush())
    head = struct.pack(">IIBBBBB", width, height, 8, 2 if colour else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def big_grey() -> bytes:
    return png(9999, 9999)


def test_an_absurdly_elongated_picture_is_refused_with_its_reason():
    """A 30000x100 picture became a 67200x224 RGB query (the 999999x100 one of issue 13: 6.6 GB)."""
    with pytest.raises(TooLarge) as info:
        load_image(io.BytesIO(png(30000, 100)), name="long.png", min_short_side=224)
    assert info.value.code == "image_too_large"
    assert str(info.value).startswith("long.png: ") and "300:1" in str(info.value) and "20:1" in str(info.value)
    with pytest.raises(ValueError, match="elongated"):
        resize_short_side(np.zeros((10, 1000, 3), np.uint8), 224)


def test_a_picture_whose_decoded_form_is_too_big_is_refused():
    """8000x8000 RGB: PIL would hold 244 MiB before anything is scaled."""
    with pytest.raises(TooLarge, match="244 MiB"):
        load_image(io.BytesIO(png(8000, 8000, colour=True)), name="wide.png", min_short_side=224)


def test_a_100_megapixel_greyscale_png_is_shrunk_before_it_becomes_rgb(big_grey):
    """The result is bounded by what the caller needs (short side 224..447), not by the upload:
    the old code returned the full 9999x9999x3 array (300 MB)."""
    image = load_image(io.BytesIO(big_grey), min_short_side=224)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert 224 <= min(image.shape[:2]) < 448 and image.nbytes <= 448 * 448 * 3
    assert resize_short_side(image, 224).shape[:2] == (224, 224)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_region_is_cut_from_the_upright_picture(orientation, fmt):
    """Cutting the region before the picture is turned upright and converted gives exactly the
    pixels of turning, converting and cutting the whole picture."""
    rng = np.random.default_rng(orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 500, 3), dtype=np.uint8)).save(buf, fmt, exif=exif.tobytes())
    with Image.open(io.BytesIO(buf.getvalue())) as pil:
        whole = np.asarray(ImageOps.exif_transpose(pil).convert("RGB"))
    assert np.array_equal(load_image(io.BytesIO(buf.getvalue())), whole)
    for x, y, w, h in [(10, 20, 130, 70), (250, 100, 400, 400)]:
        got = load_image(io.BytesIO(buf.getvalue()), region=(x, y, w, h))
        assert np.array_equal(got, whole[y:y + h, x:x + w])
    with pytest.raises(ValueError, match="outside"):
        load_image(io.BytesIO(buf.getvalue()), region=(5000, 5000, 10, 10))


def test_an_elongated_region_is_refused():
    buf = io.BytesIO()
    Image.new("RGB", (2000, 2000)).save(buf, "PNG")
    with pytest.raises(TooLarge, match="the region"):
        load_image(io.BytesIO(buf.getvalue()), name="q.png", region=(0, 0, 2000, 10), min_short_side=224)


def test_a_big_jpeg_region_is_decoded_at_the_scale_it_needs():
    """6000x4000 JPEG, region 3000x2000: decoded at 1/8 (libjpeg's DCT scaling), the region
    keeps 250 px; the old code decoded all 24 Mpixels."""
    buf = io.BytesIO()
    Image.new("RGB", (6000, 4000), (200, 30, 30)).save(buf, "JPEG")
    image = load_image(io.BytesIO(buf.getvalue()), region=(3000, 2000, 3000, 2000), min_short_side=224)
    assert 224 <= min(image.shape[:2]) < 448 and abs(image.shape[1] / image.shape[0] - 1.5) < 0.02
