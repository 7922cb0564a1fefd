"""Compare methods on one image: one overlay each at a shared threshold, and a sortable table."""

import pandas as pd
import streamlit as st
from common import current, explanation, page_setup
from image_picker import choose_input

from svhn_xai.errors import SvhnXaiError
from svhn_xai.explain import REGISTRY
from svhn_xai.explain.cost import estimated_seconds
from svhn_xai.figures import image_figure
from svhn_xai.localisation import localise

page_setup("Compare · svhn-xai", "⚖️")

model, card, digest, digit = current()

st.title("Compare methods")
left, right = st.columns([1, 3], gap="large")
with left:
    item = choose_input(model.input_size, card["config"].get("margin", 0.15), digit)
    default = ["saliency", "integrated_gradients", "guided_gradcam", "occlusion", "lrp"]
    methods = st.multiselect(
        "Methods (default parameters)",
        list(REGISTRY),
        default=default,
        format_func=lambda k: REGISTRY[k].name,
        key="compare_methods",
    )
    mode = st.radio(
        "Threshold mode", ["value", "topk", "otsu"], horizontal=True, key="compare_mode"
    )
    t = 0.0
    if mode == "value":
        t = st.slider("Threshold", 0.0, 1.0, 0.5, 0.01, key="compare_value")
    elif mode == "topk":
        t = st.slider("Top-k %", 1.0, 100.0, 10.0, 1.0, key="compare_topk")
if item is None or not methods:
    st.stop()
slow = [k for k in methods if estimated_seconds(model, k, {}) > 30]
if slow and not st.button(f"Run {', '.join(slow)} (slow, over 30 s each)", key="compare_slow"):
    methods = [k for k in methods if k not in slow]

boxes = item.boxes_of(digit)
rows, figures = [], []
for key in methods:
    try:
        e = explanation(model, digest, item.image, digit, key, {})
    except SvhnXaiError as exc:
        st.error(f"{REGISTRY[key].name}: {exc}")
        continue
    r = localise(e, boxes, mode, t)
    heat = e.heatmap()
    figures.append(
        (
            key,
            image_figure(
                item.image,
                heat,
                0.55,
                "Jet",
                boxes,
                r.get("heatmap_box"),
                title=REGISTRY[key].name,
                height=260,
            ),
        )
    )
    rows.append(
        {
            "method": REGISTRY[key].name,
            "IoU₁": r.get("iou_1"),
            "IoU₂": r.get("iou_2"),
            "pointing game": r.get("pointing_game"),
            "mass in box": r.get("relevance_mass"),
            "seconds": e.seconds,
        }
    )
with right:
    st.caption(f"P(digit {digit} present) = {e.probability:.3f}" if rows else "")
    cols = st.columns(3)
    for i, (key, fig) in enumerate(figures):
        cols[i % 3].plotly_chart(fig, key=f"compare_fig_{key}")
    if rows and len(boxes):
        for name, b in localise(e, boxes, mode, t)["baselines"].items():
            rows.append(
                {
                    "method": f"baseline: {name.replace('_', ' ')}",
                    "IoU₁": b["iou_1"],
                    "IoU₂": b["iou_2"],
                    "pointing game": b["pointing_game"],
                    "mass in box": b["relevance_mass"],
                    "seconds": float("nan"),  # nothing computed: shown as "–"
                }
            )
    st.dataframe(
        pd.DataFrame(rows).set_index("method").style.format("{:.3f}", na_rep="–"),
        height="content",
        key="compare_table",
    )
