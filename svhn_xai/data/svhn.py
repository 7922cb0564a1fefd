"""Real SVHN Format 1 (full house numbers) read from a split folder.

A split folder is what an official archive unpacks to: ``DIR/test/1.png ...`` plus
``DIR/test/digitStruct.mat``. A folder with ``annotations.json`` instead (the layout of
``../shared/svhn-sample``: ``{"1.png": [{"label", "left", "top", "width", "height"}, ...]}``,
labels already 0-9) is read the same way. Items come in the split's official order, so
index 0 is ``1.png``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from svhn_xai.data.digit_struct import Table, load_digit_struct
from svhn_xai.data.image_io import load_rgb
from svhn_xai.data.item import HouseNumber
from svhn_xai.errors import DataError

SPLITS = ("train", "test", "extra")


def _natural_key(name: str) -> tuple[int, str]:
    match = re.match(r"(\d+)", name)
    return (int(match.group(1)) if match else 1 << 62, name)


def _read_annotations_json(path: Path) -> Table:
    try:
        data = json.loads(path.read_text())
        table = [
            (name, [{k: float(d[k]) if k != "label" else int(d[k]) for k in d} for d in digits])
            for name, digits in data.items()
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path} is not a valid annotations file ({exc})") from exc
    return sorted(table, key=lambda entry: _natural_key(entry[0]))


def _boxes(digits: list[dict[str, float]], size: tuple[int, int]) -> np.ndarray:
    """Boxes as [x0, y0, x1, y1], clipped to the image: a few SVHN boxes run past its edge."""
    width, height = size
    boxes = np.array(
        [[d["left"], d["top"], d["left"] + d["width"], d["top"] + d["height"]] for d in digits],
        dtype=np.float64,
    ).reshape(-1, 4)
    return np.clip(boxes, 0, [width, height, width, height])


class SVHNFolder:
    """One SVHN Format 1 split on disk; ``folder[i]`` is a :class:`HouseNumber`.

    Args:
        folder: the split folder itself (``DIR/test``), holding ``N.png`` files and
            ``digitStruct.mat`` or ``annotations.json``.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"SVHN folder {self.folder} does not exist")
        mat, ann = self.folder / "digitStruct.mat", self.folder / "annotations.json"
        if mat.is_file():
            self.table = load_digit_struct(mat)
        elif ann.is_file():
            self.table = _read_annotations_json(ann)
        else:
            raise DataError(f"{self.folder} has neither digitStruct.mat nor annotations.json")
        present = set(os.listdir(self.folder))
        missing = [name for name, _ in self.table if name not in present]
        if missing:
            raise DataError(
                f"{len(missing)} of {len(self.table)} images listed for {self.folder} are missing "
                f"(first: {missing[0]}); re-extract the archive or pass the right --root"
            )

    def __len__(self) -> int:
        return len(self.table)

    def labels(self, index: int) -> tuple[int, ...]:
        """Item ``index``'s digits, from the annotations alone (no image decoded)."""
        return tuple(int(d["label"]) for d in self.table[index][1])

    def __getitem__(self, index: int) -> HouseNumber:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images in {self.folder}")
        name, digits = self.table[index]
        image = load_rgb(self.folder / name)
        boxes = _boxes(digits, (image.shape[1], image.shape[0]))
        return HouseNumber(
            image=image, labels=self.labels(index), boxes=boxes, name=f"{self.folder.name}/{name}"
        )


def split_folder(root: str | os.PathLike[str], split: str) -> Path:
    """``root/split`` with a clear message when ``split`` is unknown or absent."""
    if split not in SPLITS:
        raise DataError(f"unknown SVHN split {split!r}; choose one of {', '.join(SPLITS)}")
    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(
            f"{folder} not found: download it with `python -m svhn_xai download --split {split} "
            f"--root {root}` or point --root at the folder that holds {split}/"
        )
    return folder
