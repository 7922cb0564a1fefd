import io

import numpy as np
import pytest
from PIL import Image

from svhn_xai.data.image_io import load_rgb
from svhn_xai.errors import DataError


def _png(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "1"])
def test_any_mode_becomes_rgb(mode):
    image = Image.new(mode, (7, 5))
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    out = load_rgb(buffer.getvalue())
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8


def test_16_bit_keeps_its_range():
    values = np.array([[0, 65535]], dtype=np.uint16)
    out = load_rgb(_png(Image.fromarray(values)))
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 255


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (20, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert load_rgb(buffer.getvalue()).shape == (20, 10, 3)


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"", "empty"),
        (b"hello, not an image", "not an image"),
        (_png(Image.new("RGB", (50, 50)))[:60], "corrupt"),
    ],
)
def test_bad_bytes_are_refused_in_one_line(payload, reason):
    with pytest.raises(DataError, match=reason) as info:
        load_rgb(payload, name="up.png")
    assert "\n" not in str(info.value)


def test_decompression_bomb_is_refused_before_decoding():
    bomb = _png(Image.new("1", (30000, 30000)))
    with pytest.raises(DataError, match="pixels"):
        load_rgb(bomb)
