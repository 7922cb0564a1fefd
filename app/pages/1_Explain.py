"""Explain one image: choose the image, the digit and the method; move the threshold live."""

import json
from io import BytesIO

import numpy as np
import pandas as pd
import streamlit as st
from common import current, explanation, page_setup, param_widgets, use_digit
from image_picker import choose_input
from PIL import Image

from svhn_xai.errors import SvhnXaiError
from svhn_xai.explain import REGISTRY
from svhn_xai.explain.cost import estimated_seconds
from svhn_xai.figures import curve_figure, image_figure, overlay
from svhn_xai.heatmap import REDUCTIONS, threshold
from svhn_xai.localisation import localise

FIG = 250  # px: three square images side by side fill a third of the right column each

page_setup("Explain · svhn-xai", "🔍")

model, card, digest, digit = current()
margin = card["config"].get("margin", 0.15)

st.title("Explain")
left, right = st.columns([2, 3], gap="large")
with left:
    item = choose_input(model.input_size, margin, digit)
    method = st.selectbox(
        "Method",
        list(REGISTRY),
        format_func=lambda k: REGISTRY[k].name,
        key="method",
        help="Every classic attribution method; see `python -m svhn_xai methods` for details.",
    )
    st.caption(REGISTRY[method].description)
    with st.expander("Parameters", expanded=False):
        params = param_widgets(method, "explain")
if item is None:
    st.stop()

with left:
    present = sorted(set(item.labels))
    st.caption(f"Digits in this image: {', '.join(map(str, present)) or 'unknown'}")
    if present and digit not in present:
        st.info(f"Digit {digit} is not in this image: there is no box to score against.")
        for i, d in enumerate(present):
            st.button(
                f"Explain digit {d} instead", key=f"switch_digit_{i}", on_click=use_digit, args=(d,)
            )
    eta = estimated_seconds(model, method, params)
    go = True
    if eta > 30:
        st.warning(f"These settings take about {eta:.0f} s on this machine.")
        go = st.button("Run anyway", key="run_slow")
if not go:
    st.stop()
try:
    e = explanation(model, digest, item.image, digit, method, params)
except SvhnXaiError as exc:
    st.error(str(exc))
    st.stop()

with right:
    c1, c2, c3, c4 = st.columns(4)
    mode = c1.radio(
        "Threshold mode",
        ["value", "topk", "otsu"],
        key="threshold_mode",
        help="value: heat above t; topk: the t % hottest pixels; otsu: automatic.",
    )
    if mode == "value":
        t = c2.slider(
            "Threshold",
            0.0,
            1.0,
            0.5,
            0.01,
            key="threshold_value",
            help="Pixels whose normalised heat is above this are active.",
        )
    elif mode == "topk":
        t = c2.slider(
            "Top-k %",
            1.0,
            100.0,
            10.0,
            1.0,
            key="threshold_topk",
            help="The k per cent hottest pixels are active.",
        )
    else:
        t = 0.0
        c2.caption("Otsu picks the threshold from the heatmap's histogram.")
    reduction = c3.selectbox(
        "Channels",
        REDUCTIONS,
        index=REDUCTIONS.index(e.reduction),
        key="reduction",
        help="How the three colour channels of the attribution become one map.",
    )
    clip = c4.slider(
        "Clip percentile",
        90.0,
        100.0,
        100.0,
        0.5,
        key="clip",
        help="Saturate the hottest outliers so the rest stays visible.",
    )
    result = localise(e, item.boxes_of(digit), mode, t, reduction, clip, curve=True)
    heat = e.heatmap(reduction, clip)

    m = st.columns(5)
    m[0].metric("P(digit present)", f"{e.probability:.3f}")
    if result["scored"]:
        whole = result["baselines"]["whole_image"]
        versus = "Arrow: the difference from the whole-image baseline (a map that is 1 everywhere)."
        m[1].metric(
            "IoU₁ (pixels)",
            f"{result['iou_1']:.3f}",
            f"{result['iou_1'] - whole['iou_1']:+.3f}",
            help="Pixels of the thresholded heatmap vs pixels of the digit's box(es). " + versus,
        )
        m[2].metric(
            "IoU₂ (boxes)",
            f"{result['iou_2']:.3f}",
            f"{result['iou_2'] - whole['iou_2']:+.3f}",
            help="Bounding box of the thresholded heatmap vs the digit's box. " + versus,
        )
        m[3].metric("Pointing game", f"{result['pointing_game']:.2f}")
    m[4].metric("Compute time", f"{e.seconds:.2f} s", f"{e.model_passes} passes", "off")
    for note in result["notes"]:
        st.info(note)

    o1, o2 = st.columns(2)
    opacity = o1.slider("Heatmap opacity", 0.0, 1.0, 0.5, 0.05, key="opacity")
    scale = o2.selectbox(
        "Colour scale", ["Jet", "Inferno", "Viridis", "RdBu_r", "Hot"], key="colorscale"
    )
    boxes = item.boxes_of(digit)
    f1, f2, f3 = st.columns(3)
    f1.plotly_chart(
        image_figure(item.image, gt_boxes=boxes, title="Model input", height=FIG), key="fig_input"
    )
    f2.plotly_chart(
        image_figure(
            item.image,
            heat,
            opacity,
            scale,
            boxes,
            result.get("heatmap_box"),
            title="Heatmap",
            height=FIG,
        ),
        key="fig_heat",
    )
    mask = threshold(heat, mode, t).mask
    f3.plotly_chart(
        image_figure(
            np.repeat(mask[..., None] * 255, 3, 2).astype(np.uint8),
            gt_boxes=boxes,
            heat_box=result.get("heatmap_box"),
            title="Mask",
            height=FIG,
        ),
        key="fig_mask",
    )

if result["scored"]:
    st.subheader("Against the baselines")
    rows = {REGISTRY[method].name: result, **result["baselines"]}
    table = pd.DataFrame(
        {
            name: {
                k: r[k]
                for k in ("iou_1", "iou_2", "pointing_game", "relevance_mass", "active_fraction")
            }
            for name, r in rows.items()
        }
    ).T
    st.dataframe(table.style.format("{:.3f}"), key="baseline_table")
    st.caption(
        "Baselines know nothing about the image: a method that does not beat the "
        "whole-image map has not found the digit."
    )
    st.plotly_chart(
        curve_figure({REGISTRY[method].name: result["curve"]}, t if mode == "value" else None),
        key="fig_curve",
    )

d1, d2, d3 = st.columns(3)
picture = overlay(item.image, heat, opacity, scale, boxes, result.get("heatmap_box"))
png, npy = BytesIO(), BytesIO()
Image.fromarray(picture).save(png, format="PNG")
np.save(npy, e.attribution)
d1.download_button("Overlay PNG", png.getvalue(), f"{method}_digit{digit}.png", "image/png")
d2.download_button("Attribution .npy", npy.getvalue(), f"{method}_digit{digit}.npy")
scores = {k: v for k, v in result.items() if k != "curve"}
d3.download_button(
    "Scores JSON", json.dumps(scores, indent=2), f"{method}_digit{digit}.json", "application/json"
)
