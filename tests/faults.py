"""Hostile and odd inputs, built in memory: every case a user could hand us."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _save(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _digit_photo(size=(80, 40)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def bad_images() -> dict[str, bytes]:
    """Files that must be refused with a one-line message."""
    png = _save(_digit_photo(), "PNG")
    return {
        "zero bytes": b"",
        "truncated PNG": png[: len(png) // 3],
        "text file named .png": b"hello, I am not a picture\n",
        "decompression bomb": _save(Image.new("1", (30000, 30000)), "PNG"),
    }


def odd_images() -> dict[str, bytes]:
    """Files in unusual modes that must give a correct result (converted to RGB)."""
    photo = _digit_photo()
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    exif = photo.getexif()
    exif[0x0112] = 6
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return {
        "16-bit PNG": _save(
            Image.fromarray((np.arange(3200).reshape(40, 80) * 20).astype(np.uint16)), "PNG"
        ),
        "palette PNG with transparency": _save(palette, "PNG", transparency=0),
        "CMYK JPEG": _save(photo.convert("CMYK"), "JPEG"),
        "EXIF-rotated JPEG": _save(photo, "JPEG", exif=exif),
        "animated GIF": gif.getvalue(),
        "1x1 image": _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"),
        "grayscale PNG": _save(photo.convert("L"), "PNG"),
    }
