"""Choosing the image to explain: synthetic gallery, real SVHN folders, or an upload with a box
marked in the browser. Returns the model input; all image logic lives in svhn_xai."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from svhn_xai.checkpoint import REPO_ROOT
from svhn_xai.data.download import download_split
from svhn_xai.data.image_io import load_rgb
from svhn_xai.data.item import HouseNumber
from svhn_xai.data.sources import SYNTHETIC_SIZES, open_source
from svhn_xai.data.svhn import SPLITS, SVHNFolder
from svhn_xai.data.target import marked_photo_input, to_model_input
from svhn_xai.errors import SvhnXaiError
from svhn_xai.figures import image_figure, selected_box

DATA_ROOT = REPO_ROOT / "data" / "svhn"
KNOWN_FOLDERS = [
    *(DATA_ROOT / s for s in SPLITS),
    REPO_ROOT.parent / "shared" / "svhn-sample" / "train",
    REPO_ROOT / "tests" / "fixtures" / "svhn" / "train",
]


@st.cache_data(show_spinner=False, max_entries=64)
def synthetic_input(index: int, size: int, margin: float) -> HouseNumber:
    return to_model_input(open_source("synthetic", "test")[index], size, margin).item


@st.cache_data(show_spinner=False)
def first_synthetic_with(digit: int) -> int:
    """Index of the first held-out synthetic image that shows ``digit`` (the page's default, so
    that the first result already has a box to score against)."""
    source = open_source("synthetic", "test")
    return next((i for i in range(len(source)) if digit in source[i].labels), 0)


@st.cache_data(show_spinner=False, max_entries=64)
def svhn_input(folder: str, index: int, size: int, margin: float) -> HouseNumber:
    return to_model_input(SVHNFolder(folder)[index], size, margin).item


@st.cache_resource(show_spinner=False)
def svhn_length(folder: str) -> int:
    return len(SVHNFolder(folder))


def _real_folders() -> list[Path]:
    return [
        f
        for f in KNOWN_FOLDERS
        if (f / "digitStruct.mat").is_file() or (f / "annotations.json").is_file()
    ]


def _download_widget() -> None:
    st.info(f"No SVHN split found under {DATA_ROOT}. Download one (Format 1, with boxes):")
    split = st.selectbox(
        "Split",
        SPLITS,
        index=1,
        key="download_split",
        help="test: 13,068 photos (276 MB); train: 33,402; extra: 202,353",
    )
    if st.button(f"Download {split}", key="download_button"):
        bar = st.progress(0.0, text="connecting…")

        def progress(done: int, total: int | None) -> None:
            text = f"{done / 1e6:.0f} MB" + (f" of {total / 1e6:.0f} MB" if total else "")
            bar.progress(done / total if total else 0.0, text=text)

        try:
            download_split(split, DATA_ROOT, progress=progress)
        except SvhnXaiError as exc:
            st.error(str(exc))
        else:
            st.success(f"{split} is ready")
            st.rerun()


def choose_input(size: int, margin: float, digit: int) -> HouseNumber | None:
    """The image widgets; returns the model input with every known box, or None."""
    source = st.radio(
        "Image source",
        ["Synthetic", "Real SVHN", "Upload"],
        horizontal=True,
        key="source",
        help="Synthetic and real SVHN images bring their "
        "ground-truth boxes; for an upload you mark the digit's box.",
    )
    if source == "Synthetic":
        index = st.number_input(
            "Synthetic test image",
            0,
            SYNTHETIC_SIZES["test"] - 1,
            first_synthetic_with(digit),
            key="synthetic_index",
            help="Held-out synthetic house numbers (never trained on).",
        )
        return synthetic_input(int(index), size, margin)
    if source == "Real SVHN":
        folders = _real_folders()
        if not folders:
            _download_widget()
            return None
        labels = [str(f.relative_to(REPO_ROOT.parent)) for f in folders]
        folder = folders[labels.index(st.selectbox("Folder", labels, key="svhn_folder"))]
        if not (DATA_ROOT / "test").is_dir():
            with st.expander("Download an official split"):
                _download_widget()
        count = svhn_length(str(folder))
        index = st.number_input(
            f"Image (0 = 1.png, … {count - 1})", 0, count - 1, 0, key="svhn_index"
        )
        return svhn_input(str(folder), int(index), size, margin)
    return _upload(size, margin, digit)


def _upload(size: int, margin: float, digit: int) -> HouseNumber | None:
    upload = st.file_uploader(
        "House-number photo",
        type=["png", "jpg", "jpeg", "webp"],
        key="upload",
        help="Any colour mode; EXIF rotation is honoured.",
    )
    if upload is None:
        return None
    try:
        # decoded from memory: an upload is never written to disk under the user's name
        image = load_rgb(upload.getvalue(), name=upload.name)
    except SvhnXaiError as exc:
        st.error(f"Cannot use this file: {exc}")
        return None
    height, width = image.shape[:2]
    st.caption(f"Mark digit {digit}: drag a box on the photo (box select), or type it below.")
    # as tall as the photo's shape needs in the left column, so a wide plate leaves no gap
    fig_height = int(min(max(400 * height / width + 20, 150), 420))
    event = st.plotly_chart(
        image_figure(image, height=fig_height),
        on_select="rerun",
        selection_mode="box",
        key="box_select",
    )
    names, limits = ("x0", "y0", "x1", "y1"), (width, height) * 2
    picked = selected_box(event)
    if picked is not None and picked != st.session_state.get("picked_box"):
        st.session_state["picked_box"] = picked  # a new drag moves the numbers below
        for name, value, limit in zip(names, picked, limits):
            st.session_state[f"box_{name}"] = float(min(max(value, 0), limit))
    default = [width * 0.25, height * 0.25, width * 0.75, height * 0.75]
    cols = st.columns(4)
    box = [
        cols[i].number_input(name, 0.0, float(limit), float(default[i]), key=f"box_{name}")
        for i, (name, limit) in enumerate(zip(names, limits))
    ]
    crop = st.checkbox(
        "Crop to box",
        key="crop",
        help="Crop around the box (+15 % margin) before resizing; otherwise the whole photo "
        "is the frame. The model was trained on crops around the house number: a photo with "
        "much background around small digits is outside what it has seen.",
    )
    try:
        model_input = marked_photo_input(image, np.array([box]), (digit,), size, margin, crop)
    except ValueError as exc:
        st.error(f"Box {box}: {exc}")
        return None
    st.caption(
        f"Photo {width}×{height} px → model input {size}×{size} px, crop window "
        f"{model_input.window}."
    )
    return model_input.item
