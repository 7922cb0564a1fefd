"""Pictures from arrays: heatmap overlays with boxes. Returns images; never shows them."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

GT_COLOUR = (0, 230, 0)
HEAT_COLOUR = (255, 40, 40)


def colourise(heat: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """[0, 1] heatmap (H, W) -> uint8 RGB (H, W, 3) through a matplotlib colour map."""
    import matplotlib

    colours = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return (colours * 255).round().astype(np.uint8)


def overlay(
    image: np.ndarray,
    heat: np.ndarray,
    alpha: float = 0.5,
    cmap: str = "jet",
    gt_boxes: np.ndarray | None = None,
    heat_box: list[float] | np.ndarray | None = None,
    scale: int = 4,
) -> np.ndarray:
    """Blend a heatmap over ``image`` (H, W, 3) uint8 and draw the boxes, upscaled ``scale``x.

    Ground-truth boxes are green, the heatmap's box red; boxes are half-open pixel boxes.
    """
    blended = (1 - alpha) * image.astype(np.float64) + alpha * colourise(heat, cmap)
    picture = Image.fromarray(blended.round().astype(np.uint8))
    picture = picture.resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)
    draw = ImageDraw.Draw(picture)
    boxes = [] if gt_boxes is None else np.asarray(gt_boxes).reshape(-1, 4)
    for box, colour in [*[(b, GT_COLOUR) for b in boxes], (heat_box, HEAT_COLOUR)]:
        if box is None:
            continue
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=2)
    return np.asarray(picture)
