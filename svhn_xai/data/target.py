"""From a house-number photo to a model input: crop around the digits, resize, move the boxes along.

This is the seed's "customised target-digit dataset": each image is cropped to the union of its
digit boxes grown by a margin (Goodfellow et al. 2013 grow it by 30 %), resized to a square model
input, and labelled per digit D with "is D present?". Every box follows the crop and the resize.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from svhn_xai.data.item import HouseNumber

DEFAULT_SIZE = 64
DEFAULT_MARGIN = 0.15  # of the union box's width/height, on each side: 30 % in all


def union_box(boxes: np.ndarray) -> np.ndarray:
    """Smallest box that holds every box in ``boxes`` (K, 4); returns shape (4,)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        raise ValueError("union of zero boxes is undefined")
    return np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])


def crop_window(
    boxes: np.ndarray,
    image_size: tuple[int, int],
    margin: float = DEFAULT_MARGIN,
    jitter: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[int, int, int, int]:
    """Integer crop ``(x0, y0, x1, y1)`` around the digits, grown by ``margin`` and clipped.

    Args:
        boxes: (K, 4) digit boxes in image pixels.
        image_size: (width, height) of the image.
        margin: growth on each side as a fraction of the union's width and height.
        jitter: training augmentation; each side moves by up to ``jitter`` x the union's
            size, drawn from ``rng``.
    """
    ux0, uy0, ux1, uy1 = union_box(boxes)
    w, h = max(ux1 - ux0, 1.0), max(uy1 - uy0, 1.0)
    grow = np.array([-margin * w, -margin * h, margin * w, margin * h])
    if jitter > 0:
        if rng is None:
            raise ValueError("jitter needs an rng")
        grow = grow + rng.uniform(-jitter, jitter, size=4) * np.array([w, h, w, h])
    x0, y0, x1, y1 = np.array([ux0, uy0, ux1, uy1]) + grow
    width, height = image_size
    x0, y0 = int(np.clip(np.floor(x0), 0, width - 1)), int(np.clip(np.floor(y0), 0, height - 1))
    x1, y1 = int(np.clip(np.ceil(x1), x0 + 1, width)), int(np.clip(np.ceil(y1), y0 + 1, height))
    return x0, y0, x1, y1


def transform_boxes(
    boxes: np.ndarray, window: tuple[int, int, int, int], size: int | tuple[int, int]
) -> np.ndarray:
    """Map boxes from image pixels into a crop ``window`` resized to ``size``; clip to it.

    Args:
        boxes: (K, 4) ``[x0, y0, x1, y1]`` in image pixels.
        window: crop ``(x0, y0, x1, y1)`` in image pixels.
        size: output side, or (width, height), in pixels.
    Returns:
        (K, 4) float boxes in output pixels, clipped to ``[0, width] x [0, height]``.
    """
    out_w, out_h = (size, size) if isinstance(size, int) else size
    cx0, cy0, cx1, cy1 = window
    sx, sy = out_w / (cx1 - cx0), out_h / (cy1 - cy0)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    mapped = (b - np.array([cx0, cy0, cx0, cy0])) * np.array([sx, sy, sx, sy])
    return np.clip(mapped, 0, np.array([out_w, out_h, out_w, out_h]))


def resize_rgb(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bilinear (antialiased) resize of a uint8 (H, W, 3) array to ``size`` (side or (w, h))."""
    out = (size, size) if isinstance(size, int) else size
    return np.asarray(Image.fromarray(image).resize(out, Image.Resampling.BILINEAR))


@dataclass(frozen=True)
class ModelInput:
    """A house number as the model sees it: the crop, resized to ``size`` x ``size``.

    ``item.boxes`` are in the model input's pixels; ``window`` is the crop in the source photo.
    """

    item: HouseNumber
    window: tuple[int, int, int, int]
    source_size: tuple[int, int]


def to_model_input(
    item: HouseNumber,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    jitter: float = 0.0,
    rng: np.random.Generator | None = None,
) -> ModelInput:
    """Crop ``item`` around its digits with ``margin``, resize to ``size``, move the boxes along."""
    window = crop_window(item.boxes, item.size, margin, jitter, rng)
    x0, y0, x1, y1 = window
    image = resize_rgb(np.ascontiguousarray(item.image[y0:y1, x0:x1]), size)
    boxes = transform_boxes(item.boxes, window, size)
    cropped = HouseNumber(image=image, labels=item.labels, boxes=boxes, name=item.name)
    return ModelInput(item=cropped, window=window, source_size=item.size)


def window_to_photo(
    boxes: np.ndarray, window: tuple[int, int, int, int], size: int | tuple[int, int]
) -> np.ndarray:
    """The inverse of :func:`transform_boxes`: boxes in the resized crop's pixels (``size``) back
    to the source photo's pixels, through the crop ``window``. Returns (K, 4) float boxes."""
    out_w, out_h = (size, size) if isinstance(size, int) else size
    cx0, cy0, cx1, cy1 = window
    sx, sy = (cx1 - cx0) / out_w, (cy1 - cy0) / out_h
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return b * np.array([sx, sy, sx, sy]) + np.array([cx0, cy0, cx0, cy0])


def marked_photo_input(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: tuple[int, ...],
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    crop: bool = True,
) -> ModelInput:
    """A user's photo with each digit's box marked with its label -> model input.

    Made the way the dataset is made: the crop is the union of *all* marked digits grown by
    ``margin`` per side (:func:`to_model_input`), so the window does not depend on which digit is
    explained and a flat heatmap gains nothing from it. ``crop=False`` takes the whole photo as
    the frame (a photo that already is such a crop); so does a photo with no box marked yet.

    Args:
        image: uint8 (H, W, 3) photo.
        boxes: (K, 4) ``[x0, y0, x1, y1]`` in the photo's pixels, K >= 0.
        labels: the digit in each box, K of them.
    Raises:
        ValueError: a box with x1 <= x0 or y1 <= y0, one outside the photo, or labels that do
            not match the boxes.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height, width = image.shape[:2]
    if len(labels) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
    if any(not 0 <= d <= 9 for d in labels):
        raise ValueError(f"labels must be digits 0-9, got {list(labels)}")
    if len(boxes) and ((boxes[:, 2] <= boxes[:, 0]).any() or (boxes[:, 3] <= boxes[:, 1]).any()):
        raise ValueError("each box needs x0 < x1 and y0 < y1")
    boxes = np.clip(boxes, 0, [width, height, width, height])
    if len(boxes) and ((boxes[:, 2] <= boxes[:, 0]).any() or (boxes[:, 3] <= boxes[:, 1]).any()):
        raise ValueError(f"a box lies outside the {width}x{height} photo")
    item = HouseNumber(image=image, labels=tuple(labels), boxes=boxes, name="photo")
    if crop and len(boxes):
        return to_model_input(item, size, margin)
    window = (0, 0, width, height)
    resized = HouseNumber(
        image=resize_rgb(image, size),
        labels=item.labels,
        boxes=transform_boxes(boxes, window, size),
        name=item.name,
    )
    return ModelInput(item=resized, window=window, source_size=(width, height))
