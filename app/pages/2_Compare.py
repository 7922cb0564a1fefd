"""Compare methods on one image: one overlay each at a shared threshold, and a table of scores."""

import shlex

import link
import numpy as np
import streamlit as st
from common import (
    CALIBRATED,
    baseline_name,
    checkpoint_args,
    current,
    explanation,
    page_setup,
    reading,
    remember,
    remembered,
    score_table,
    slow_run_allowed,
    threshold_args,
    threshold_controls,
)
from image_picker import choose_input, uploading

from svhn_xai.errors import SvhnXaiError
from svhn_xai.explain import REGISTRY
from svhn_xai.report.figures import image_figure
from svhn_xai.report.words import a_digit
from svhn_xai.scoring.localisation import localise

DEFAULT_METHODS = ["saliency", "integrated_gradients", "guided_gradcam", "occlusion", "lrp"]
FIG = 280  # px per overlay, three to a row


def method_picker() -> list[str]:
    chosen = st.multiselect(
        "Methods (default parameters)",
        list(REGISTRY),
        default=remembered("compare_methods", DEFAULT_METHODS),
        format_func=lambda k: REGISTRY[k].name,
        key="compare_methods",
    )
    remember("compare_methods")
    return chosen


def results(model, digest, item, digit, methods, rule, calibration) -> dict[str, tuple]:
    """Explanation and scores per method that may run now (slow ones wait for their button)."""
    boxes = item.boxes_of(digit)
    out = {}
    for key in methods:
        if not slow_run_allowed(model, digest, item.image, digit, key, {}, f"compare_slow_{key}"):
            continue
        try:
            e = explanation(model, digest, item.image, digit, key, {})
        except SvhnXaiError as exc:
            st.error(f"{REGISTRY[key].name}: {exc}")
            continue
        out[key] = (e, localise(e, boxes, rule, calibration=calibration))
    return out


link.restore("compare", prefix="compare", rename={"methods": "compare_methods"})
page_setup("Compare · svhn-xai", "⚖️")
model, card, digest, digit = current()

st.title("Compare methods")
# the method list spans the page: in the picker's column its chips were cut to "Integrated Gr…"
methods = method_picker()
# marking boxes on an upload wants room, as on Explain: half the page while uploading
left, right = st.columns([1, 1] if uploading() else [1, 2.5], gap="large")
with left:
    margin = card["config"].get("margin", 0.15)
    picked = choose_input(model.input_size, margin, digit, card.get("provenance"))
    mode, value = threshold_controls("compare")
    rule, calibration = reading(mode, value)
link.save(
    {
        **link.photo(picked.cli if picked else None),
        "digit": digit,
        "methods": ",".join(methods) or None,
        "mode": mode,
        "t": None if mode == CALIBRATED else value,
    }
)
if picked is None or not methods:
    if not methods:
        with right:
            st.info("Pick one or more methods on the left to compare their maps.")
    st.stop()
item = picked.model_input.item
boxes = item.boxes_of(digit) if picked.marked else np.zeros((0, 4))
with left:
    done = results(model, digest, item, digit, methods, rule, calibration)
if not done:
    st.stop()
with right:
    probability = next(iter(done.values()))[0].probability
    st.caption(f"P(digit {digit} present) = {probability:.3f}")
    if probability < 0.5:
        st.warning(f"The model does not see {a_digit(digit)} here: these maps explain a no.")
    cols = st.columns(3)
    for i, (key, (e, r)) in enumerate(done.items()):
        figure = image_figure(
            item.image,
            e.heatmap(),
            0.55,
            "Jet",
            boxes,
            r.get("heatmap_box"),
            title=REGISTRY[key].name,
            height=FIG,
        )
        cols[i % 3].plotly_chart(figure, key=f"compare_fig_{key}")
    rows = {REGISTRY[k].name: {**r, "seconds": e.seconds} for k, (e, r) in done.items()}
    scored = next(iter(done.values()))[1]
    if scored["scored"]:
        rows.update({baseline_name(k): b for k, b in scored["baselines"].items()})
    else:
        st.info(f"Digit {digit} has no box in this image: the heatmaps are not scored.")
# the table spans the page: eight score columns do not fit beside the picker
score_table(rows, "compare_table", seconds=True)
with st.expander("Reproduce: CLI commands"):
    st.caption("Each command prints one row of the table and the baselines (`--json`).")
    base = ["python", "-m", "svhn_xai", "explain", *picked.cli, "--digit", str(digit)]
    flags = [*threshold_args(mode, value), *checkpoint_args(card), "--json"]
    lines = [shlex.join([*base, "--method", key, *flags]) for key in done]
    st.code("\n".join(lines), "bash", wrap_lines=True)
