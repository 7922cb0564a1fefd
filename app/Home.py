"""svhn-xai dashboard, the entry page: `streamlit run app/Home.py`.

What the tool does, and the loaded model's card. The other pages are in pages/.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from common import current, page_setup

from svhn_xai.model.checkpoint import REPO_ROOT
from svhn_xai.report.words import learnt_photos, photos, real_score_label, trained_on

page_setup("svhn-xai", "🔢")


def without_server_paths(value: Any) -> Any:
    """``value`` with every absolute path shortened: relative to the repository when inside
    it, else to its file name, so the page never shows where the server keeps its files."""
    if isinstance(value, dict):
        return {k: without_server_paths(v) for k, v in value.items() if k != "path"}
    if isinstance(value, list):
        return [without_server_paths(v) for v in value]
    if isinstance(value, str) and "/" in value:  # a path, or a command line holding paths
        return " ".join(_short(part) for part in value.split(" "))
    return value


def _short(part: str) -> str:
    if not part.startswith("/"):
        return part
    path = Path(part)
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return path.name


st.title("svhn-xai")
st.write(
    "A ResNet-18 learns whether a target digit appears in a Street View House Numbers photo. "
    "Attribution methods then show *why* it decided. Every heatmap is scored against the "
    "digit's ground-truth box (IoU₁ on pixels, IoU₂ on boxes), next to baselines that know "
    "nothing about the image."
)
PAGES = (
    ("pages/1_Explain.py", "Explain an image", "🔍"),
    ("pages/5_All_digits.py", "Every digit of a photo at once", "🔟"),
    ("pages/2_Compare.py", "Compare methods", "⚖️"),
    ("pages/4_Evaluate.py", "Evaluate methods on a dataset", "📊"),
    ("pages/6_Shortcut_lab.py", "Shortcut lab: catch a cheating model", "🧪"),
    ("pages/3_Train.py", "Train a model", "🏋️"),
)
st.info(
    "**Start here:** open **Explain**, keep the photo it shows, and pick a method: the heatmap, "
    "its mask and the scores beside the baselines appear. The sidebar sets the model and the "
    "digit to explain."
)
for column, (page, label, icon) in zip(st.columns(3) + st.columns(3), PAGES):
    column.page_link(page, label=label, icon=icon)

model, card, _, _ = current()

st.subheader("Model card")
metrics = card["metrics"]
test, real = metrics.get("test", {}), metrics.get("real", {})
prov = card.get("provenance") or {}
cols = st.columns([1, 1, 1.2, 1.7])  # the last label names its photos: room to read it
digits = list(model.digits)
contiguous = len(digits) > 2 and digits == list(range(digits[0], digits[-1] + 1))
heads = f"{len(digits)} ({digits[0]}–{digits[-1]})" if contiguous else ", ".join(map(str, digits))
cols[0].metric("Heads (digits)", heads, help="One presence head per digit.")
cols[1].metric(
    "Epochs",
    card["epoch"],
    help="Passes over this run's training images (a fine-tuned model's earlier training, "
    "named under the card, is not counted).",
)
BALANCED = (
    "Mean over the digit heads of (true-positive rate + true-negative rate) / 2: 50 % is "
    "guessing, higher is better."
)
if test.get("balanced_accuracy") is not None:
    cols[2].metric("Bal. acc., synthetic test", f"{test['balanced_accuracy']:.1%}", help=BALANCED)
if real.get("balanced_accuracy") is not None:
    cols[3].metric(
        real_score_label(real, prov),
        f"{real['balanced_accuracy']:.1%}",
        help=BALANCED
        + " Measured when the model was exported, on "
        + (photos(real["indices"]) if real.get("indices") else "every photo")
        + " of the shared sample's train split"
        + (
            ": the model trained on them, so this is no test of it."
            if learnt_photos(real, prov)
            else ", which the model never trained on."
        ),
    )
st.caption(
    f"Trained on {trained_on(prov)}; stem "
    f"{model.stem}, input {model.input_size}×{model.input_size}, commit {prov.get('commit', '?')}."
)
per_digit = test.get("per_digit", {})
real_photos = photos(real["indices"]) if real.get("indices") else "real photos"
if per_digit:
    rows = {
        d: {
            "synthetic test": s["balanced_accuracy"],
            real_photos: real.get("per_digit", {}).get(d, {}).get("balanced_accuracy"),
        }
        for d, s in per_digit.items()
    }
    st.caption("Balanced accuracy per digit head (higher is better; 50 % is guessing)")
    table = pd.DataFrame(rows).astype(float)
    # Streamlit draws a missing number as "None": show percentages as text, "–" for none
    st.dataframe(table.map(lambda v: "–" if np.isnan(v) else f"{v:.1%}"), key="per_digit")
with st.expander("Full model card (JSON)"):
    st.json(without_server_paths(card), expanded=False)
