"""All digits: one photo, every head. A heatmap per digit with its probability, the digits present
scored against their own boxes, and the method's class sensitivity on the photo."""

import shlex

import link
import numpy as np
import pandas as pd
import streamlit as st
from common import (
    CALIBRATED,
    checkpoint_args,
    current,
    explanation,
    page_setup,
    reading,
    remember,
    remembered,
    threshold_args,
    threshold_controls,
)
from image_picker import choose_input

from svhn_xai.errors import SvhnXaiError
from svhn_xai.explain import REGISTRY
from svhn_xai.explain.cost import estimated_seconds
from svhn_xai.report.figures import image_figure
from svhn_xai.report.words import probability
from svhn_xai.scoring.class_sensitivity import DIRECTION, class_sensitivity, pair_outcomes
from svhn_xai.scoring.localisation import localise

link.restore("all_digits", prefix="all_digits", rename={"method": "all_digits_method"})
page_setup("All digits · svhn-xai", "🔟")
if (view := st.session_state.pop("all_digits_open", None)) is not None:  # a cell's button
    link.open_explain(view)


def _open(digit: int) -> None:
    """Button callback: (next run) open Explain on ``digit`` with this page's method and mask
    rule, so that it shows the numbers of the cell clicked."""
    state = st.session_state
    mode = state["all_digits_mode"]
    state["all_digits_open"] = {
        "digit": digit,
        "method": state["all_digits_method"],
        "mode": mode,
        "t": state.get(f"all_digits_{mode}"),
    }


model, card, digest, digit = current()

st.title("All digits")
st.caption(
    "One photo, all ten heads: does the map for each digit land on that digit? Present digits "
    "are scored against their own boxes; open any cell on the Explain page to tune it."
)
left, right = st.columns([1, 3], gap="large")
with left:
    margin = card["config"].get("margin", 0.15)
    picked = choose_input(model.input_size, margin, digit, card.get("provenance"))
    keys = list(REGISTRY)
    method = st.selectbox(
        "Method (default parameters)",
        keys,
        index=keys.index(remembered("all_digits_method", "integrated_gradients")),
        format_func=lambda k: REGISTRY[k].name,
        key="all_digits_method",
    )
    remember("all_digits_method")
    mode, value = threshold_controls("all_digits")
    rule, calibration = reading(mode, value)
link.save(
    {
        **link.photo(picked.cli if picked else None),
        "method": method,
        "mode": mode,
        "t": None if mode == CALIBRATED else value,
    }
)
if picked is None:
    st.stop()
item = picked.model_input.item

seconds = estimated_seconds(model, method, {}, item.image) * len(model.digits)
if seconds > 30 and not st.button(
    f"Run {REGISTRY[method].name} for every digit (about {seconds:.0f} s)", key="all_digits_slow"
):
    st.stop()

results, heatmaps, boxes = {}, {}, {}
for d in model.digits:
    try:
        e = explanation(model, digest, item.image, d, method, {})
    except SvhnXaiError as exc:
        st.error(f"digit {d}: {exc}")
        st.stop()
    boxes[d] = item.boxes_of(d) if picked.marked else np.zeros((0, 4))
    heatmaps[d] = e.heatmap()
    results[d] = localise(e, boxes[d], rule, calibration=calibration)

with right:
    # four cells a row: five were narrower than the figures, which lost their right edge
    cols = [col for _ in range(0, len(model.digits), 4) for col in st.columns(4)]
    for i, d in enumerate(model.digits):
        r = results[d]
        with cols[i]:
            st.plotly_chart(
                image_figure(
                    item.image,
                    heatmaps[d],
                    0.55,
                    "Jet",
                    boxes[d],
                    r.get("heatmap_box"),
                    title=f"{d} · p = {probability(r['probability'])}",
                    height=220,
                ),
                key=f"all_digits_fig_{d}",
            )
            if r["scored"]:
                st.caption(
                    f"IoU₁ {r['iou_1']:.2f} · IoU₂ {r['iou_2']:.2f} · "
                    f"pointing {r['pointing_game']:.0f} · mass {r['relevance_mass']:.2f}"
                )
            else:
                st.caption(f"{d} is not in this photo: nothing to score")
            st.button(
                f"Open {d} on Explain",
                key=f"all_digits_open_{d}",
                on_click=_open,
                args=(d,),
                width="stretch",
            )

    st.subheader("Digits present, scored against their own boxes")
    present = [d for d in model.digits if results[d]["scored"]]
    if present:
        st.dataframe(
            pd.DataFrame(
                {
                    "digit": d,
                    "probability": results[d]["probability"],
                    "IoU₁ ↑": results[d]["iou_1"],
                    "IoU₂ ↑": results[d]["iou_2"],
                    "pointing game ↑": results[d]["pointing_game"],
                    "mass in box ↑": results[d]["relevance_mass"],
                }
                for d in present
            )
            .set_index("digit")
            .style.format("{:.3f}")
            .format("{:.2f}", subset=["pointing game ↑"]),  # a share of hits, as elsewhere
            key="all_digits_scores",
        )
    else:
        st.info("No digit of this photo has a box: nothing to score.")

    with st.expander("Reproduce: CLI command"):
        st.caption("This command prints every head's scores and the class sensitivity (`--json`).")
        line = ["python", "-m", "svhn_xai", "explain", *picked.cli, "--digit", "all"]
        line += ["--method", method, *threshold_args(mode, value), *checkpoint_args(card)]
        st.code(shlex.join([*line, "--json"]), "bash", wrap_lines=True)

    st.subheader("Class sensitivity")
    outcomes = pair_outcomes(heatmaps, boxes)
    summary = class_sensitivity(outcomes)
    if summary["score"] is None:
        st.info("Class sensitivity needs two different digits in the photo.")
    else:
        st.metric(
            "Class sensitivity ↑",
            f"{summary['score']:.2f}",
            help=f"Share of pairs (D, E) where the map for D is hotter per pixel on D's box "
            f"than on E's; {DIRECTION}.",
        )
        verdicts = {1.0: "own box", 0.5: "tie", 0.0: "other digit's box"}
        st.dataframe(
            pd.DataFrame(
                {
                    "map of": o["digit"],
                    "against": o["other"],
                    "heat per pixel, own box": o["own"],
                    "heat per pixel, other's box": o["other_box"],
                    "lands on": verdicts[o["win"]],
                }
                for o in outcomes
            ).style.format(
                {"heat per pixel, own box": "{:.3f}", "heat per pixel, other's box": "{:.3f}"}
            ),
            hide_index=True,
            key="all_digits_pairs",
        )
