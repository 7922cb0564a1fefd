"""Decode any image a user may hand us into a uint8 RGB array, or refuse it in one clear line."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from svhn_xai.errors import DataError

MAX_PIXELS = 40_000_000  # far above any SVHN photo; stops decompression bombs before decoding


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert every PIL mode to RGB, keeping the tonal range of 16- and 32-bit images."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        span = values.max() - values.min()
        values = (values - values.min()) / span * 255 if span > 0 else np.zeros_like(values)
        return Image.fromarray(values.round().astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # composite on white: a transparent background is a blank plate, not black paint
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_rgb(source: str | os.PathLike[str] | bytes, name: str | None = None) -> np.ndarray:
    """Decode a file path or raw bytes into a uint8 RGB array of shape (H, W, 3).

    EXIF orientation is applied, the first frame of an animation is used, and any mode
    (palette, grayscale, CMYK, 16-bit, alpha) becomes RGB. Raises :class:`DataError` with a
    one-line reason for empty, truncated, non-image or oversized input.
    """
    label = name or (Path(source).name if not isinstance(source, bytes) else "upload")
    if isinstance(source, bytes):
        if not source:
            raise DataError(f"{label}: the file is empty")
        stream: io.BytesIO | Path = io.BytesIO(source)
    else:
        stream = Path(source)
        if not stream.is_file():
            raise DataError(f"{label}: image file {stream} not found")
        if stream.stat().st_size == 0:
            raise DataError(f"{label}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DataError(
                        f"{label}: {width}x{height} pixels is more than the {MAX_PIXELS:,} allowed"
                    )
                if width < 1 or height < 1:
                    raise DataError(f"{label}: the image has no pixels")
                image.seek(0)
                image.load()
                rgb = _to_rgb(ImageOps.exif_transpose(image))
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{label}: refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise DataError(f"{label}: not an image file that can be read (PNG, JPEG, ...)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{label}: the image is corrupt or truncated ({exc})") from exc
    return np.asarray(rgb, dtype=np.uint8).copy()
