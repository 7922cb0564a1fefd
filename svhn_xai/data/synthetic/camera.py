"""The camera: the geometry of the shot (rotation, shear, perspective) and the photograph
itself (defocus, motion blur, a distant shot enlarged, sensor noise, JPEG).

A geometric change is a 3 x 3 homography ``H`` that maps *output* pixels back to *input* pixels
(PIL's convention); :func:`map_box` carries a box forward through it, so a box drawn on the
canvas before the change stays exact after it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage


def affine(rng: np.random.Generator, size: tuple[int, int], strength: float) -> np.ndarray:
    """A small random rotation + shear about the centre of a ``size`` (W, H) canvas: ``H``."""
    width, height = size
    angle = np.deg2rad(rng.uniform(-8, 8) * strength)
    shear = rng.uniform(-0.25, 0.25) * strength
    scale_y = 1 + rng.uniform(-0.1, 0.1) * strength  # a hint of perspective foreshortening
    scale_x = rng.uniform(0.8, 1.15)  # condensed and extended lettering
    forward = np.array(
        [
            [np.cos(angle) * scale_x, -np.sin(angle) + shear],
            [np.sin(angle), np.cos(angle) * scale_y],
        ]
    )
    inverse = np.linalg.inv(forward)  # PIL maps output pixels back to input pixels
    centre = np.array([width / 2, height / 2])
    offset = centre - inverse @ centre
    return np.array([[*inverse[0], offset[0]], [*inverse[1], offset[1]], [0.0, 0.0, 1.0]])


def perspective(rng: np.random.Generator, size: tuple[int, int], strength: float) -> np.ndarray:
    """A plate seen from the side or from below: each corner of the ``size`` (W, H) canvas moves
    by up to ``strength`` x 15 % of the side, one vertical edge shrinking as the other grows."""
    width, height = size
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    squeeze = rng.uniform(-0.15, 0.15) * strength * height  # one side farther than the other
    tilt = rng.uniform(-0.1, 0.1) * strength * width  # seen from below or above
    # corners top-left, top-right, bottom-right, bottom-left: the left edge shortens as the
    # right one lengthens, the top edge as the bottom one widens
    moved = corners + np.array(
        [[tilt, squeeze], [-tilt, -squeeze], [tilt, squeeze], [-tilt, -squeeze]]
    )
    moved += rng.uniform(-0.03, 0.03, (4, 2)) * strength * np.array([width, height])
    return homography(moved, corners)  # output (moved) -> input (corners)


def shot(
    rng: np.random.Generator, size: tuple[int, int], with_perspective: bool
) -> list[np.ndarray]:
    """The geometric changes of one shot of a ``size`` (W, H) canvas, in the order to apply
    them: a rotation and shear of random strength, then, ``with_perspective``, a homography
    (drawn only then, so the plain stream of draws is unchanged)."""
    changes = [affine(rng, size, strength=rng.uniform(0, 1))]
    if with_perspective:
        changes.append(perspective(rng, size, strength=rng.uniform(0, 1)))
    return changes


def homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3 x 3 ``H`` with ``H @ [x, y, 1] ~ target`` for the four points ``source`` (4, 2)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(source, target):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.array(rows), np.array(rhs))
    return np.append(h, 1.0).reshape(3, 3)


def warp(array: np.ndarray, h: np.ndarray, fill: float | tuple[int, ...] = 0) -> np.ndarray:
    """``array`` (H, W) in [0, 1] or (H, W, 3) in [0, 255] seen through ``h``: same shape, float.

    Pixels whose source lies outside the canvas take ``fill``."""
    mask = array.ndim == 2
    image = Image.fromarray(np.clip(array * 255 if mask else array, 0, 255).astype(np.uint8))
    if np.allclose(h[2], [0, 0, 1]):
        warped = image.transform(
            image.size, Image.Transform.AFFINE, tuple(h[:2].ravel()), Image.Resampling.BILINEAR,
            fillcolor=fill,
        )  # fmt: skip
    else:
        warped = image.transform(
            image.size, Image.Transform.PERSPECTIVE, tuple((h / h[2, 2]).ravel()[:8]),
            Image.Resampling.BILINEAR, fillcolor=fill,
        )  # fmt: skip
    out = np.asarray(warped, dtype=np.float64)
    return out / 255.0 if mask else out


def map_box(box: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The box ``[x0, y0, x1, y1]`` drawn before the change ``h``, after it: the bounds of its
    four corners carried forward (``h`` maps output to input, so forward is its inverse)."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], dtype=np.float64)
    moved = corners @ np.linalg.inv(h).T
    moved = moved[:, :2] / moved[:, 2:]
    return np.concatenate([moved.min(axis=0), moved.max(axis=0)])


def motion_blur(image: Image.Image, length: float, angle: float) -> Image.Image:
    """``image`` smeared along a line ``length`` pixels long at ``angle`` radians: a camera or
    a car that moved while the shutter was open."""
    k = int(np.ceil(length)) | 1  # an odd kernel has a centre pixel
    kernel = np.zeros((k, k))
    steps = np.linspace(-(length - 1) / 2, (length - 1) / 2, max(int(length) * 3, 2))
    rows = np.round(k // 2 + steps * np.sin(angle)).astype(int)
    cols = np.round(k // 2 + steps * np.cos(angle)).astype(int)
    np.add.at(kernel, (rows, cols), 1.0)
    kernel /= kernel.sum()
    array = np.asarray(image, dtype=np.float64)
    smeared = np.stack(
        [ndimage.convolve(array[..., c], kernel, mode="nearest") for c in range(3)], axis=-1
    )
    return Image.fromarray(np.clip(smeared, 0, 255).astype(np.uint8))


def photograph(
    rng: np.random.Generator, canvas: np.ndarray, glyph_height: int, motion: bool = False
) -> Image.Image:
    """The camera: defocus, a distant shot enlarged again, sensor noise and JPEG; with
    ``motion``, half the shots also smeared (draws made only then, so the plain stream of
    draws, and the plain photos, are unchanged)."""
    height, width = canvas.shape[:2]
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    blur = rng.uniform(0, 1.2) * glyph_height / 24
    if blur > 0.2:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if motion and rng.random() < 0.5:
        length = rng.uniform(2, 0.3 * glyph_height + 2)
        image = motion_blur(image, length, rng.uniform(0, np.pi))
    if rng.random() < 0.5:  # photographed from afar: digits 10-20 px tall, then enlarged
        small = rng.uniform(10, 20) / glyph_height
        if small < 1:
            low = (max(int(width * small), 1), max(int(height * small), 1))
            image = image.resize(low, Image.Resampling.BILINEAR).resize(
                (width, height), Image.Resampling.BILINEAR
            )
    array = np.asarray(image, dtype=np.float64)
    array = array + rng.normal(0, rng.uniform(0, 10), array.shape)
    image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    if rng.random() < 0.4:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.uniform(25, 90)))
        image = Image.open(buffer).convert("RGB")
    return image
