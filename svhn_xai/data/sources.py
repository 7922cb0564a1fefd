"""Open a data source by the names the CLI and the app use: ``synthetic`` or ``svhn``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from svhn_xai.data.indices import parse_indices
from svhn_xai.data.item import HouseNumber
from svhn_xai.data.svhn import SPLITS, SVHNFolder, split_folder
from svhn_xai.data.synthetic import SyntheticHouseNumbers
from svhn_xai.errors import DataError

SOURCES = ("synthetic", "svhn")
# synthetic splits are disjoint random streams: item i of a split depends on (seed, i) alone
SYNTHETIC_SEEDS = {"train": 0, "test": 1, "extra": 2}
SYNTHETIC_SIZES = {"train": 60_000, "test": 2_000, "extra": 200_000}


class Subset:
    """Items ``indices`` of a source, re-numbered from 0."""

    def __init__(self, source: Sequence[HouseNumber], indices: Sequence[int]) -> None:
        self.source, self.indices = source, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> HouseNumber:
        return self.source[self.indices[index]]

    @property
    def labels(self) -> Callable[[int], tuple[int, ...]]:
        """``labels(i)``: item ``i``'s digits without decoding it, where the source can tell
        (an AttributeError, so ``hasattr`` is false, where it cannot)."""
        of_source = self.source.labels  # type: ignore[attr-defined]
        return lambda index: of_source(self.indices[index])


def open_source(
    data: str,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    size: int | None = None,
    indices: str | None = None,
) -> Sequence[HouseNumber]:
    """The house numbers of ``data``'s ``split``, optionally a slice of them.

    Args:
        data: ``"synthetic"`` or ``"svhn"``.
        split: ``train``, ``test`` or ``extra``.
        root: for svhn, the folder holding the split folders (``root/test/1.png``).
        size: for synthetic, how many images the split has (default per split).
        indices: ``"a:b"``, a 0-based slice of the split in its official order (or several,
            ``"a:b,c:d"``).
    """
    if data not in SOURCES:
        raise DataError(f"unknown data source {data!r}; choose one of {', '.join(SOURCES)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    source: Sequence[HouseNumber]
    if data == "synthetic":
        source = SyntheticHouseNumbers(size or SYNTHETIC_SIZES[split], SYNTHETIC_SEEDS[split])
    else:
        if root is None:
            raise DataError("--data svhn needs --root DIR, the folder that holds train/, test/ …")
        source = SVHNFolder(split_folder(root, split))
    if indices is None:
        return source
    return Subset(source, parse_indices(indices, len(source)))
