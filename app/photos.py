"""The real photo folders this server has, read once: the official splits when downloaded, the
shared sample beside the repository, the test fixtures; which photo first shows a digit, and
the photo and digit a newcomer is first shown: one the model never trained on, so that the
first scores a newcomer reads test it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from svhn_xai.data.indices import learnt
from svhn_xai.data.svhn import SPLITS, SVHNFolder
from svhn_xai.model.checkpoint import REPO_ROOT

DATA_ROOT = REPO_ROOT / "data" / "svhn"
# real photo folders by the name the page shows (never the server's path), in order of preference
FOLDERS = {
    **{f"downloaded {s}": DATA_ROOT / s for s in SPLITS},
    "shared sample": REPO_ROOT.parent / "shared" / "svhn-sample" / "train",
    "fixtures": REPO_ROOT / "tests" / "fixtures" / "svhn" / "train",
}
# the SVHN split whose photo i each folder's photo i is (the shared sample is the first 256 of
# the official train split); the fixtures are a pick of photos, numbered afresh
SPLIT_OF = {**{f"downloaded {s}": s for s in SPLITS}, "shared sample": "train"}


def available_folders() -> list[str]:
    return [
        name
        for name, f in FOLDERS.items()
        if (f / "digitStruct.mat").is_file() or (f / "annotations.json").is_file()
    ]


@st.cache_resource(show_spinner="Reading the annotations…")
def svhn_folder(name: str) -> SVHNFolder:
    return SVHNFolder(FOLDERS[name])


def _shows(boxes: list[dict], digit: int) -> bool:
    """Whether a photo's ``boxes`` (its annotation rows) hold ``digit``."""
    return any(d["label"] == digit for d in boxes)


def first_with(name: str, digit: int, after: int = -1) -> int:
    """The first photo after ``after`` of folder ``name`` that shows ``digit`` (wrapping)."""
    table = svhn_folder(name).table
    order = [*range(after + 1, len(table)), *range(after + 1)]
    return next((i for i in order if _shows(table[i][1], digit)), 0)


def first_unseen(name: str, provenance: dict[str, Any], digit: int | None = None) -> int:
    """The first photo of folder ``name`` that the model whose card's ``provenance`` this is
    never trained on (and that shows ``digit``, when given); where it trained on them all, the
    first one (that shows ``digit``)."""
    table = svhn_folder(name).table
    split = SPLIT_OF.get(name)
    shown = [i for i, (_, boxes) in enumerate(table) if digit is None or _shows(boxes, digit)]
    unseen = (
        i for i in shown if split is None or not learnt(provenance, "svhn", split, f"{i}:{i + 1}")
    )
    return next(unseen, shown[0] if shown else 0)


def default_digit(digits: list[int], provenance: dict[str, Any]) -> int:
    """The target a new session starts with: the first digit of the first photo of the first
    folder that the model never trained on, so that the first page already scores a box, and
    tests the model, wherever the app runs (the fixtures hold no 0); the first head where there
    is no real photo."""
    folders = available_folders()
    if folders:
        table = svhn_folder(folders[0]).table
        boxes = table[first_unseen(folders[0], provenance)][1] if table else []
        for box in boxes:
            if box["label"] in digits:
                return int(box["label"])
    return digits[0]
