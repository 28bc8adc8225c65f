import numpy as np
from PIL import Image

from vidsearch.ingest.thumbnail import save_thumbnail


def test_thumbnail_is_a_small_jpeg_with_the_frame_aspect(tmp_path):
    img = np.zeros((224, 398, 3), np.uint8)
    img[:, :199] = (255, 0, 0)
    out = save_thumbnail(img, tmp_path / "00000.jpg")
    with Image.open(out) as pil:
        assert pil.format == "JPEG" and pil.height == 180 and abs(pil.width - 320) <= 1
        r, g, b = pil.getpixel((10, 90))
        assert r > 200 and g < 60
    assert not list(tmp_path.glob("*.tmp"))
