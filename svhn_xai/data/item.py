"""The one record every data source yields: an RGB house-number photo and its digit boxes.

Box convention, used everywhere in svhn_xai: ``[x0, y0, x1, y1]`` in pixels of the image the box
belongs to, half-open (``x1 = left + width``). A pixel with column ``c`` lies inside when
``x0 <= c < x1`` for integer boxes, so a box's area is ``(x1 - x0) * (y1 - y0)``, exactly as
``torchvision.ops.box_area`` counts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HouseNumber:
    """A house-number image with one label and one box per digit, left to right.

    Attributes:
        image: uint8 array of shape (H, W, 3), RGB.
        labels: digits 0-9, one per box (SVHN's label 10 already mapped to 0).
        boxes: float array of shape (K, 4), ``[x0, y0, x1, y1]`` in image pixels.
        name: where the item came from, e.g. ``"train/1.png"`` or ``"synthetic/seed0/17"``.
    """

    image: np.ndarray
    labels: tuple[int, ...]
    boxes: np.ndarray
    name: str

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"{self.name}: image must be uint8 (H, W, 3), "
                f"got {self.image.dtype} {self.image.shape}"
            )
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.labels)} labels but {len(boxes)} boxes")
        if any(not 0 <= d <= 9 for d in self.labels):
            raise ValueError(f"{self.name}: labels must be digits 0-9, got {self.labels}")
        object.__setattr__(self, "boxes", boxes)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]

    def boxes_of(self, digit: int) -> np.ndarray:
        """Boxes of every occurrence of ``digit``, shape (M, 4); M may be 0."""
        keep = np.array([d == digit for d in self.labels], dtype=bool)
        return self.boxes[keep] if len(keep) else np.zeros((0, 4))

    def presence(self) -> np.ndarray:
        """Multi-hot float32 vector of shape (10,): 1 where the digit appears."""
        out = np.zeros(10, dtype=np.float32)
        out[list(self.labels)] = 1.0
        return out
