"""Choosing the image to explain: a real SVHN photo, a synthetic one, or an upload whose digits
the user marks. Returns the model input and how to get it again; all image logic is in svhn_xai."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from common import remember, remembered
from photos import (
    DATA_ROOT,
    FOLDERS,
    SPLIT_OF,
    available_folders,
    first_unseen,
    first_with,
    svhn_folder,
)

from svhn_xai.data.download import download_split
from svhn_xai.data.image_io import load_rgb
from svhn_xai.data.marks import MarkedBox
from svhn_xai.data.sources import SYNTHETIC_SIZES, open_source
from svhn_xai.data.svhn import SPLITS
from svhn_xai.data.target import ModelInput, marked_photo_input, to_model_input
from svhn_xai.data.uploads import UploadStore
from svhn_xai.errors import SvhnXaiError
from svhn_xai.model.checkpoint import REPO_ROOT
from svhn_xai.report.figures import image_figure, preview, selected_box
from svhn_xai.report.words import a_digit, learnt_image_note

SOURCES = {"svhn": "Real photo", "synthetic": "Synthetic", "upload": "Upload"}
PREVIEW_SIDE = 640  # px: an upload is shown (and sent to the browser) at most this large


@dataclass(frozen=True)
class Picked:
    """The image to explain.

    Attributes:
        model_input: the model input (boxes of every marked digit in its pixels) and the crop
            window in the source photo.
        photo: the source photo (an upload's downsampled preview), None for synthetic images.
        photo_scale: ``photo`` pixels per source-photo pixel (1 unless downsampled).
        marked: False for an upload whose digits are not marked yet: nothing can be scored.
        cli: the ``python -m svhn_xai explain`` arguments that select this image.
    """

    model_input: ModelInput
    photo: np.ndarray | None
    photo_scale: float
    marked: bool
    cli: tuple[str, ...]


@st.cache_data(show_spinner=False, max_entries=64)
def svhn_input(name: str, index: int, size: int, margin: float) -> tuple[ModelInput, np.ndarray]:
    item = svhn_folder(name)[index]
    return to_model_input(item, size, margin), item.image


@st.cache_data(show_spinner=False, max_entries=64)
def synthetic_input(index: int, size: int, margin: float) -> ModelInput:
    return to_model_input(open_source("synthetic", "test")[index], size, margin)


@st.cache_data(show_spinner=False)
def first_synthetic_with(digit: int) -> int:
    """Index of the first held-out synthetic image that shows ``digit``."""
    source = open_source("synthetic", "test")
    return next((i for i in range(len(source)) if digit in source[i].labels), 0)


@st.cache_data(show_spinner=False, max_entries=8)
def decoded_upload(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """The photo, its preview (decoded and downsampled once per upload) and the preview scale."""
    photo = load_rgb(data, name=name)
    shown, scale = preview(photo, PREVIEW_SIDE)
    return photo, shown, scale


def _cli_root(name: str) -> tuple[str, ...]:
    folder = FOLDERS[name]
    root = os.path.relpath(folder.parent, REPO_ROOT)  # relative to the project, as typed there
    return ("--data", "svhn", "--root", root, "--split", folder.name)


def _download_widget() -> None:
    st.info("No official SVHN split is downloaded yet. Download one (Format 1, with boxes):")
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
            bar.empty()  # no "connecting…" left under the error
            here = os.path.relpath(DATA_ROOT, REPO_ROOT)
            st.error(f"{exc}. The app's data folder is `{here}/` in the project's folder.")
        else:
            st.success(f"{split} is ready")
            st.rerun()


def uploading() -> bool:
    """Whether the page is on an upload, whose box marking wants half the page."""
    return st.session_state.get("source", st.session_state.get("kept:source")) == "upload"


def choose_input(
    size: int, margin: float, digit: int, provenance: dict[str, Any] | None = None
) -> Picked | None:
    """The image widgets; returns the picked image, or None while there is none. With the
    model card's ``provenance``, a photo the model trained on is said to be one."""
    folders = available_folders()
    chosen = remembered("source", "svhn" if folders else "synthetic")
    source = st.radio(
        "Image source",
        list(SOURCES),
        index=list(SOURCES).index(chosen) if chosen in SOURCES else 0,
        format_func=SOURCES.get,
        horizontal=True,
        key="source",
        help="Real and synthetic images bring their ground-truth digit boxes; on an upload you "
        "mark each digit's box yourself.",
    )
    remember("source")
    if source == "synthetic":
        return _synthetic(size, margin, digit, provenance or {})
    if source == "svhn":
        if not folders:
            _download_widget()
            return None
        return _real(folders, size, margin, digit, provenance or {})
    return _upload(size, margin, digit)


def _say_if_learnt(provenance: dict[str, Any], data: str, split: str | None, index: int) -> None:
    note = learnt_image_note(provenance, data, split, index) if split else None
    if note:
        st.warning(note)


def _synthetic(size: int, margin: float, digit: int, provenance: dict[str, Any]) -> Picked:
    count = SYNTHETIC_SIZES["test"]
    start = remembered("synthetic_index", None)
    index = st.number_input(
        "Synthetic test image",
        0,
        count - 1,
        start if start is not None and 0 <= start < count else first_synthetic_with(digit),
        key="synthetic_index",
        help="Held-out synthetic house numbers (never trained on).",
    )
    remember("synthetic_index")
    _say_if_learnt(provenance, "synthetic", "test", int(index))
    cli = ("--data", "synthetic", "--split", "test", "--index", str(int(index)))
    return Picked(synthetic_input(int(index), size, margin), None, 1.0, True, cli)


def _next_with(name: str, digit: int) -> None:
    """Button callback: the next photo of the folder that shows ``digit``."""
    following = first_with(name, digit, st.session_state["svhn_photo"] - 1) + 1
    st.session_state["svhn_photo"] = st.session_state["kept:svhn_photo"] = following


def _real(
    folders: list[str], size: int, margin: float, digit: int, provenance: dict[str, Any]
) -> Picked:
    chosen = remembered("svhn_folder", folders[0])
    name = st.selectbox(
        "Photos",
        folders,
        index=folders.index(chosen) if chosen in folders else 0,
        key="svhn_folder",
        help="downloaded: official SVHN splits; shared sample: 256 training photos, 1.png to "
        "192.png for development and 193.png to 256.png held out; fixtures: the 12 photos the "
        "tests use.",
    )
    if not (DATA_ROOT / "test").is_dir():
        with st.expander("Download an official split"):
            _download_widget()
    remember("svhn_folder")
    count = len(svhn_folder(name))
    # photos are numbered as their files are (1.png is photo 1); the CLI's --index counts from 0
    start = st.session_state.get("svhn_photo", remembered("svhn_photo", None))
    if start is None or not 1 <= start <= count or name != remembered("indexed_folder", name):
        start = first_unseen(name, provenance, digit) + 1  # a photo that tests the model
    st.session_state["kept:indexed_folder"] = name
    st.session_state["svhn_photo"] = start  # through the key alone, as the button sets it
    photo_number = st.number_input(
        f"Photo (1.png … {count}.png)", 1, count, key="svhn_photo", step=1
    )
    index = int(photo_number) - 1
    st.button(
        f"Next photo with {a_digit(digit)}",
        key="next_with_digit",
        on_click=_next_with,
        args=(name, digit),
    )
    remember("svhn_photo")
    _say_if_learnt(provenance, "svhn", SPLIT_OF.get(name), index)
    model_input, photo = svhn_input(name, index, size, margin)
    cli = (*_cli_root(name), "--index", str(int(index)))
    return Picked(model_input, photo, 1.0, True, cli)


def uploads() -> UploadStore:
    """The server's store of uploaded photos, by SHA-256 (its folder read from the environment
    each time: a handle, no state of its own)."""
    return UploadStore()


def _clear_upload() -> None:
    """Button callback: forget the uploaded photo and its boxes, on purpose."""
    state = st.session_state
    forget = ("upload_id", "upload_boxes", "upload_rows", "upload_drawn")
    for key in ("kept:upload_sha", "kept:upload_name", *forget):
        state.pop(key, None)
    for key in ("upload", "boxes", "name"):  # nor may the address bring it back on a reload
        st.query_params.pop(key, None)
    state["upload_generation"] = state.get("upload_generation", 0) + 1  # an empty uploader


def _uploaded() -> tuple[bytes, str] | None:
    """The photo being worked on: a new upload, else the one uploaded earlier in this session
    (kept by its SHA-256 on the server, so that a source switch or another page loses
    nothing); None when there is none, or it is no longer kept."""
    state = st.session_state
    upload = st.file_uploader(
        "House-number photo",
        type=["png", "jpg", "jpeg", "webp"],
        key=f"upload_{state.get('upload_generation', 0)}",
        help="Any colour mode; EXIF rotation is honoured. The photo is kept on the server under "
        "its SHA-256 for a day, so that it and its boxes survive a change of page or source.",
    )
    if upload is not None:
        return upload.getvalue(), upload.name
    digest = state.get("kept:upload_sha")
    data = uploads().get(digest) if digest else None
    if data is None:
        if digest:
            st.warning(
                "The photo this page refers to is no longer kept on this server (an upload is "
                "kept for a day): upload it again."
            )
            _clear_upload()
        st.info("Upload a photo of a house number, then mark each digit's box with its label.")
        return None
    name = state.get("kept:upload_name", "photo")
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.caption(f"Working on **{name}**, uploaded earlier, with its boxes.")
    right.button("Clear", key="upload_clear", on_click=_clear_upload, help="Forget this photo.")
    return data, name


def _upload(size: int, margin: float, digit: int) -> Picked | None:
    got = _uploaded()
    if got is None:
        return None
    data, name = got
    try:
        photo, shown, scale = decoded_upload(data, name)
    except SvhnXaiError as exc:
        st.error(f"Cannot use this file: {exc}")
        return None
    sha256 = uploads().put(data)  # a photo that decodes is kept
    st.session_state["kept:upload_sha"] = sha256
    st.session_state["kept:upload_name"] = name
    height, width = photo.shape[:2]
    short = [f"{side} ({n} px)" for side, n in (("width", width), ("height", height)) if n < size]
    if short:
        st.warning(
            f"The photo's {' and '.join(short)} {'is' if len(short) == 1 else 'are'} below the "
            f"model's {size} px input: it is enlarged, and the model sees a blurred version."
        )
    marked = _mark_boxes(shown, scale, digit, sha256)
    crop = st.checkbox(
        "Crop to the marked digits",
        value=True,
        key="crop",
        help="As the dataset is made: the union of all marked digits grown 15 % per side, "
        "resized to the model input. Untick only for a photo that already is such a crop.",
    )
    boxes = [m.box for m in marked]
    labels = tuple(m.label for m in marked)
    try:
        model_input = marked_photo_input(photo, boxes, labels, size, margin, crop)
    except ValueError as exc:
        st.error(f"Cannot use these boxes: {exc}")
        return None
    cli = ("--image", name, *(a for m in marked for a in ("--box", str(m))))
    if not crop:
        cli = (*cli, "--no-crop")
    x0, y0, x1, y1 = model_input.window
    st.caption(
        f"Photo {width}×{height} px; the model sees x {x0}–{x1}, y {y0}–{y1} "
        f"resized to {size}×{size} px."
        if marked
        else f"Photo {width}×{height} px, resized whole to {size}×{size} px until you mark a box."
    )
    return Picked(model_input, shown, scale, bool(marked), cli)


BOX_COLUMNS = ["digit", "x0", "y0", "x1", "y1"]  # the label first: never scrolled off
# five columns of "999.9" in half a 1280 px page beside the sidebar (Streamlit's "small": cut)
BOX_COLUMN_PX = 64


def suggested_label(rows: list[dict], target: int) -> int:
    """The label a newly drawn box starts with: the target digit until a box holds it, then
    the first digit no box holds yet (the user changes it in the picker or the table)."""
    marked = {int(r["digit"]) for r in rows if pd.notna(r.get("digit"))}
    return next((d for d in (target, *range(10)) if d not in marked), target)


def _relabel_drawn(state: Any) -> None:
    """The digit picker under a box just drawn: its choice relabels that row."""
    drawn = state.get("upload_drawn")
    if drawn is None or drawn >= len(state["upload_boxes"]):
        return
    row = state["upload_boxes"][drawn]
    chosen = st.pills(  # pills wrap onto a second line in a narrow column; a segment bar cuts
        "Digit in the box just drawn",
        list(range(10)),
        selection_mode="single",
        default=int(row["digit"]),
        key=f"upload_drawn_digit_{state['upload_version']}",
    )
    if chosen is not None and chosen != row["digit"]:
        state["upload_boxes"][drawn] = {**row, "digit": chosen}
        state["upload_rows"] = [dict(r) for r in state["upload_boxes"]]
        state["upload_version"] += 1
        st.rerun()


def _box_table(state: Any, width: float, height: float) -> list[dict]:
    """The editable table of boxes (photo pixels, ``width`` x ``height``): its rows as edited."""
    limits = {"x0": width, "y0": height, "x1": width, "y1": height}
    config = {
        c: st.column_config.NumberColumn(
            c, min_value=0.0, max_value=float(limits[c]), format="%.1f", width=BOX_COLUMN_PX
        )
        for c in BOX_COLUMNS[1:]
    }
    config["digit"] = st.column_config.NumberColumn(
        "digit", min_value=0, max_value=9, step=1, help="The digit inside this box.",
        width=BOX_COLUMN_PX,
    )  # fmt: skip
    edited = st.data_editor(
        pd.DataFrame(state["upload_boxes"], columns=BOX_COLUMNS),
        column_config=config,
        num_rows="dynamic",
        hide_index=True,
        key=f"upload_table_{state['upload_version']}",
    )
    return edited.to_dict("records")


def keep_edits(state: Any, rows: list[dict]) -> bool:
    """The table's rows as edited become its base (``upload_boxes``) under a new editor key:
    Streamlit drops an editor's edits with its state on a page change, its base survives.
    True when they changed: the page must then redraw at once, or the user's next edit lands
    in the old editor, which the next run no longer draws."""

    def frame(r: list[dict]) -> pd.DataFrame:
        return pd.DataFrame(r, columns=BOX_COLUMNS).astype(float).reset_index(drop=True)

    state["upload_rows"] = rows
    if frame(rows).equals(frame(state["upload_boxes"])):
        return False
    state["upload_boxes"] = [dict(r) for r in rows]
    state["upload_version"] += 1
    return True


def _mark_boxes(shown: np.ndarray, scale: float, digit: int, upload_id: str) -> list[MarkedBox]:
    """Drag a box on the photo (a digit picker then labels it) or type rows into the table;
    returns the complete rows as boxes in the source photo's pixels. ``upload_id`` is the
    photo's SHA-256: a new photo starts with no boxes, or with those its link carries."""
    state = st.session_state
    if state.get("upload_id") != upload_id:
        linked_id, linked = state.pop("link_boxes", (None, []))
        rows = [dict(zip(BOX_COLUMNS, [m.label, *m.box])) for m in linked if linked_id == upload_id]
        state.update(
            upload_id=upload_id, upload_boxes=rows, upload_rows=rows, upload_version=0,
            picked_box=None, upload_drawn=None,
        )  # fmt: skip
    st.caption(
        "Mark **every** digit: drag a box around it on the photo, then say which digit it holds "
        "(a new box starts as the target digit, then as the next digit not yet marked); or type "
        "the box into the table, where a row can be changed or deleted."
    )
    photo_slot = st.container()  # drawn last, with the boxes as the table has them now
    picked = selected_box(state.get("box_select"))
    if picked is not None and picked != state.get("picked_box"):
        state["picked_box"] = picked  # a new drag adds a row; the table keeps earlier edits
        box = [round(v / scale, 1) for v in picked]
        label = suggested_label(state["upload_rows"], digit)
        state["upload_boxes"] = [*state["upload_rows"], dict(zip(BOX_COLUMNS, [label, *box]))]
        state["upload_version"] += 1
        state["upload_drawn"] = len(state["upload_boxes"]) - 1  # the row the picker labels
    _relabel_drawn(state)
    st.caption("Boxes, in the photo's pixels: change a cell, or tick rows and delete them.")
    if keep_edits(state, _box_table(state, shown.shape[1] / scale, shown.shape[0] / scale)):
        st.rerun()
    complete = [r for r in state["upload_rows"] if all(pd.notna(r[c]) for c in BOX_COLUMNS)]
    if len(complete) < len(state["upload_rows"]):
        st.caption("Rows with an empty cell are left out until they are complete.")
    marked = [
        MarkedBox(tuple(float(r[c]) for c in BOX_COLUMNS[1:]), int(r["digit"])) for r in complete
    ]
    shown_boxes = np.array([m.box for m in marked]).reshape(-1, 4) * scale
    # drawn as wide as its column (half the page while uploading): about 560 px on a laptop
    figure_height = int(min(max(560 * shown.shape[0] / shown.shape[1] + 20, 200), 600))
    with photo_slot:
        st.plotly_chart(
            image_figure(shown, gt_boxes=shown_boxes, height=figure_height),
            on_select="rerun",
            selection_mode="box",
            key="box_select",
        )
    if marked:
        st.caption(
            "Marked: "
            + "; ".join(
                f"digit {m.label} at x {m.box[0]:g}–{m.box[2]:g}, y {m.box[1]:g}–{m.box[3]:g}"
                for m in marked
            )  # fmt: skip
        )
    return marked
