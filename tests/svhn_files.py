"""Build files in SVHN's exact on-disk formats, small enough for tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

FIELDS = ("label", "left", "top", "width", "height")
# (name, [(label as in the file: 10 means 0, left, top, width, height), ...])
Entry = tuple[str, list[tuple[float, float, float, float, float]]]


def write_digit_struct_v73(path: Path, entries: list[Entry]) -> None:
    """A MATLAB v7.3 (HDF5) digitStruct.mat with the official layout (see ../shared/DATA.md)."""
    ref = h5py.special_dtype(ref=h5py.Reference)
    with h5py.File(path, "w") as f:
        group = f.create_group("digitStruct")
        store = f.create_group("#refs#")
        names = group.create_dataset("name", (len(entries), 1), dtype=ref)
        bboxes = group.create_dataset("bbox", (len(entries), 1), dtype=ref)
        for i, (name, digits) in enumerate(entries):
            codes = np.array([ord(c) for c in name], dtype=np.uint16).reshape(-1, 1)
            names[i, 0] = store.create_dataset(f"name{i}", data=codes).ref
            box = store.create_group(f"bbox{i}")
            for k, key in enumerate(FIELDS):
                values = [d[k] for d in digits]
                if len(values) == 1:  # one digit: the value itself
                    box.create_dataset(key, data=np.array([[values[0]]], dtype=np.float64))
                else:  # several digits: one reference per digit to a (1, 1) dataset
                    refs = [
                        store.create_dataset(f"v{i}_{key}_{j}", data=np.array([[v]])).ref
                        for j, v in enumerate(values)
                    ]
                    column = box.create_dataset(key, (len(refs), 1), dtype=ref)
                    for j, r in enumerate(refs):
                        column[j, 0] = r
            bboxes[i, 0] = box.ref


def write_split(folder: Path, entries: list[Entry], sizes: dict[str, tuple[int, int]]) -> None:
    """A split folder: random PNGs of the given (width, height) plus digitStruct.mat."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (w, h) in sizes.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / name)
    write_digit_struct_v73(folder / "digitStruct.mat", entries)


def tar_gz_of(folder: Path, arcname: str) -> bytes:
    """The bytes of a .tar.gz holding ``folder`` as ``arcname/`` (like the official archives)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return buffer.getvalue()


SMALL_ENTRIES: list[Entry] = [
    ("1.png", [(1, 10, 5, 8, 20), (10, 18, 6, 9, 20)]),  # "10": the zero is stored as 10
    ("2.png", [(7, 4, 2, 6, 12)]),  # a single digit stores values, not references
    ("3.png", [(5, -2, 3, 10, 30), (3, 30, 1, 12, 40), (5, 42, 2, 12, 40)]),  # runs past the edge
]
SMALL_SIZES = {"1.png": (40, 30), "2.png": (16, 16), "3.png": (50, 35)}
