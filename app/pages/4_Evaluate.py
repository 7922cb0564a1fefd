"""Which explainer really finds the digit? The leaderboard over many images, with baselines."""

import json
import os
from pathlib import Path

import pandas as pd
import streamlit as st
from common import current, page_setup

from svhn_xai.checkpoint import REPO_ROOT
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.evaluate import evaluate_localisation
from svhn_xai.explain import REGISTRY
from svhn_xai.figures import curve_figure, faithfulness_figure, sanity_figure
from svhn_xai.metrics import THRESHOLD_GRID

page_setup("Evaluate · svhn-xai", "📊")
model, card, digest, digit = current()
RESULTS = Path(os.environ.get("SVHN_XAI_RESULTS", REPO_ROOT / "results"))

st.title("Evaluate")
st.write(
    "Every method's heatmaps over many images, scored exactly like the trivial baselines. "
    "A method that does not beat the whole-image map has not found the digit."
)


def _is_leaderboard(path: Path) -> bool:
    """results/ also holds the benchmarks' measurements: offer only `evaluate --json` runs."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"methods", "baselines", "n_images"} <= data.keys()


saved = [p for p in sorted(RESULTS.glob("*.json")) if _is_leaderboard(p)]
source = st.radio(
    "Results",
    ["Saved run", "Compute now"],
    horizontal=True,
    key="eval_source",
    help="Saved runs come from `python -m svhn_xai evaluate --json …`.",
)
summary = None
if source == "Saved run":
    if not saved:
        st.info("No saved results in results/; compute some below or with the CLI.")
    else:
        name = st.selectbox("Run", [p.name for p in saved], key="eval_file")
        summary = json.loads((RESULTS / name).read_text())
        st.caption(
            f"{summary.get('data')} {summary.get('split')} {summary.get('indices') or ''}"
            f" · {summary['n_images']} images · checkpoint {summary.get('checkpoint')}"
        )
else:
    methods = st.multiselect(
        "Methods",
        list(REGISTRY),
        default=["saliency", "integrated_gradients", "guided_gradcam", "lrp"],
        format_func=lambda k: REGISTRY[k].name,
        key="eval_methods",
    )
    limit = st.slider("Synthetic test images", 2, 100, 10, key="eval_limit")
    if st.button("Evaluate", type="primary", key="eval_run") and methods:
        src = open_source("synthetic", "test")
        items = [to_model_input(src[i], model.input_size).item for i in range(limit)]
        bar = st.progress(0.0, text="explaining…")
        summary = evaluate_localisation(
            model, items, methods, progress=lambda d, t: bar.progress(d / t, text=f"{d}/{t} pairs")
        )
        bar.empty()
        summary["n_images"] = limit

if summary is not None:
    rows = {}
    for key, r in summary["methods"].items():
        rows[REGISTRY[key].name if key in REGISTRY else key] = r
    for key, r in summary["baselines"].items():
        rows[f"baseline: {key.replace('_', ' ')}"] = r
    columns = {
        "iou_1": "IoU₁",
        "iou_1_ci95": "± 95 %",
        "iou_2": "IoU₂",
        "iou_2_ci95": "± 95 % ",
        "auc_iou_1": "AUC IoU₁",
        "pointing_game": "pointing",
        "relevance_mass": "mass",
        "auc_deletion": "deletion ↓",
        "auc_insertion": "insertion ↑",
        "seconds_per_image": "s / image",
    }
    table = pd.DataFrame({n: {c: r.get(k) for k, c in columns.items()} for n, r in rows.items()}).T
    st.dataframe(table.style.format("{:.3f}", na_rep="–"), height="content", key="leaderboard")
    st.caption(
        f"Threshold: {summary['threshold_mode']} {summary['threshold']}; ± is the "
        "half-width of a 95 % confidence interval. Click a column to sort."
    )
    c1, c2 = st.columns(2)
    curves = {
        k: {
            "thresholds": THRESHOLD_GRID.tolist(),
            "iou_1": r["curve_iou_1"],
            "iou_2": r["curve_iou_2"],
        }
        for k, r in summary["methods"].items()
        if "curve_iou_1" in r
    }
    c1.subheader("IoU vs threshold")
    c1.plotly_chart(curve_figure(curves), key="eval_curves")
    c2.subheader("Deletion / insertion")
    c2.plotly_chart(faithfulness_figure(summary["methods"]), key="eval_faith")
    if "sanity" in summary:
        st.subheader("Sanity check: cascading randomisation")
        st.plotly_chart(sanity_figure(summary["sanity"]), key="eval_sanity")
        flagged = [k for k, r in summary["sanity"]["methods"].items() if r["flagged"]]
        if flagged:
            st.warning(f"Barely change when the model is randomised: {', '.join(flagged)}")
