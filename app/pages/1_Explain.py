"""Explain one image: choose the image, the digit and the method; move the threshold live."""

import json
import re
import shlex
from io import BytesIO

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
    seed_agreement,
    slow_run_allowed,
    threshold_args,
    threshold_controls,
    use_digit,
)
from image_picker import Picked, choose_input, uploading
from param_widgets import param_widgets
from PIL import Image
from stability_panel import checking_time, stability_line

from svhn_xai.data.target import window_to_photo
from svhn_xai.errors import SvhnXaiError
from svhn_xai.explain import REGISTRY, Explanation
from svhn_xai.explain.stability import needs_second_draw
from svhn_xai.report.figures import curve_figure, image_figure, overlay, photo_overlay
from svhn_xai.report.words import a_digit, baselines, probability
from svhn_xai.scoring.heatmap import REDUCTIONS
from svhn_xai.scoring.localisation import PER_PHOTO_TIE, localise_with_mask
from svhn_xai.scoring.protocol import THRESHOLD_MODES
from svhn_xai.scoring.registry import METRICS

DEFAULT_METHOD = "integrated_gradients"
FIG = 270  # px: the model input, heatmap and mask side by side (square in a third of the column)
PHOTO_WIDTH = 640  # px: the heatmap on the photo
CHANNELS_HELP = (
    "An attribution has one value per colour channel; the heatmap needs one per pixel. "
    "sum: add the three (signed: negative evidence cancels positive); abs: add their "
    "magnitudes (any strong evidence, for or against); positive: only evidence for the digit."
)
CLIP_HELP = (
    "A few extreme pixels can make the rest of the heatmap look black. Values above this "
    "percentile are set to it before the map is scaled to 0–1 (100 = no clipping)."
)


def method_panel() -> tuple[str, dict]:
    methods = list(REGISTRY)
    method = st.selectbox(
        "Method",
        methods,
        index=methods.index(remembered("method", DEFAULT_METHOD)),
        format_func=lambda k: REGISTRY[k].name,
        key="method",
        help="Every classic attribution method; see `python -m svhn_xai methods` for details.",
    )
    remember("method")
    st.caption(REGISTRY[method].description)
    with st.expander("Parameters", expanded=False):
        params = param_widgets(method, "explain")
    return method, params


ALONE = "alone"  # the contrast picker's "no contrast": an option of its own, never empty


def _contrast_cleared() -> None:
    """The picker's clear button empties it: that means the digit alone, so show that."""
    if st.session_state.get("contrast") is None:
        st.session_state["contrast"] = ALONE


def contrast_panel(digit: int) -> int | None:
    """The digit E of "why the target digit and not E", or None for the target alone."""
    options = [ALONE, *(d for d in range(10) if d != digit)]
    kept = remembered("contrast", ALONE)
    chosen = st.selectbox(
        "…and not digit",
        options,
        index=options.index(kept) if kept in options else 0,
        format_func=lambda d: "— (explain the digit alone)" if d == ALONE else str(d),
        key="contrast",
        on_change=_contrast_cleared,
        help=f"Contrastive: explain the logit of {digit} minus the logit of the digit chosen "
        f"here, so the map shows what separates {a_digit(digit)} from it. Scored against the "
        f"{digit}'s boxes, like the plain map.",
    )
    remember("contrast")
    contrast = None if chosen in (ALONE, None) else int(chosen)
    if contrast is not None:
        st.caption(
            f"The map explains logit({digit}) − logit({contrast}): hot where the image speaks "
            f"for {a_digit(digit)} rather than {a_digit(contrast)}."
        )
    return contrast


def digits_panel(picked: Picked, digit: int) -> None:
    """Which digits the image holds; offers to switch when the target is not among them."""
    if not picked.marked:
        st.info(
            "Nothing is scored until you mark at least one digit's box: below are the "
            "model's probability and the heatmap only."
        )
        return
    present = sorted(set(picked.model_input.item.labels))
    st.caption(f"Digits in this image: {', '.join(map(str, present))}")
    if digit not in present:
        st.info(f"Digit {digit} is not in this image: there is no box to score against.")
        for i, d in enumerate(present):
            st.button(
                f"Explain digit {d} instead", key=f"switch_digit_{i}", on_click=use_digit, args=(d,)
            )


def view_controls(method: str) -> tuple[str, float, str, float]:
    """Threshold mode and value, channel reduction, clip percentile (one row)."""
    c1, c2, c3, c4 = st.columns(4)
    mode, value = threshold_controls("threshold", c1, c2)
    key = f"reduction:{method}"
    reduction = c3.selectbox(
        "Channels",
        REDUCTIONS,
        index=REDUCTIONS.index(remembered(key, REGISTRY[method].reduction)),
        key=key,
        help=CHANNELS_HELP,
    )
    remember(key)
    clip = c4.slider(
        "Clip percentile",
        *link.CLIP_RANGE,
        remembered("clip", 100.0),
        step=0.5,
        key="clip",
        help=CLIP_HELP,
    )
    remember("clip")
    return mode, value, reduction, clip


# the scores on the first screen: threshold-free ones first, then the mask's
FIRST_SCREEN = ("pxap", "relevance_mass", "pointing_game", "iou_1", "iou_2")
CHIP_NAMES = {"centre_gaussian": "centre"}


def _score_tile(key: str, result: dict) -> tuple:
    """One score of the first screen: (label, value, arrow text, help, grey?); the arrow
    compares with the strongest baseline on that score, grey for a tie or a capped IoU₁."""
    m = METRICS[key]
    versus = result["versus"].get(key)
    if versus is None:
        return m.label, m.format(result[key]), None, m.describe(), False
    name = versus["baseline"].replace("_", " ")
    # the chip names the baseline in a word (a narrow column cuts more); its help, in full
    delta = f"{versus['difference']:+.{m.digits}f} vs {CHIP_NAMES.get(versus['baseline'], name)}"
    tie = abs(versus["difference"]) < PER_PHOTO_TIE or "capped" in versus
    why = (
        f" Arrow: the difference from the strongest baseline on this score for this photo, the "
        f"{name} map ({m.format(versus['value'])}; the {baselines(drawn=True)} map, one draw, is "
        f"luck on one photo and is weighed over many on Evaluate); grey when it is under "
        f"{PER_PHOTO_TIE:g}, a tie on one photo"
    )
    if "capped" in versus:
        why += (
            f", or when the mask is smaller than the box and IoU₁ is near the "
            f"{versus['capped']:.2f} that a mask of this size can reach at most"
        )
    if key == "pointing_game" and result[key] == 0 and result.get("pointing_game_tolerant") == 1:
        tie = True  # a peak a pixel off the box is no miss of the digit
        why += (
            ", or when the peak misses the box by only a few pixels: the tolerant pointing "
            "game (TorchRay's 15 px at 224 px, scaled) counts it as a hit"
        )
    return m.label, m.format(result[key]), delta, m.describe() + why + ".", tie


def _mask_rule(result: dict) -> str:
    """The rule the method's mask was cut by, in words."""
    rule, mode = result["protocol"], THRESHOLD_MODES[result["protocol"]["mode"]]
    if rule["mode"] == "topk":
        cut = f"the top {rule['value']:g} % of the pixels"
    else:
        cut = f"{mode.label} {rule['value']:g}" if mode.param else mode.label
    calibrated = result["threshold_source"] == "calibrated"
    how = "calibrated for this method" if calibrated else "one rule"
    said = f"Mask: {cut}, on the map smoothed at σ {rule['sigma']:g} px ({how})."
    if calibrated and rule["mode"] == "topk" and rule["value"] >= 100:
        said += (
            " On the calibration images no smaller share of this method's map covered the "
            "digits better than the whole image: its map does not single out the digit there."
        )
    return said


def scores_panel(e: Explanation, result: dict, mask: np.ndarray, digit: int) -> None:
    shown = [
        (
            f"P({digit} present)",
            f"{e.probability:.3f}",
            None,
            f"The model's probability that {a_digit(digit)} is in the image.",
            False,
        )
    ]
    if e.contrast is not None:  # what the contrastive map explains: the logits' difference
        shown.append(
            (
                f"logit {digit} − logit {e.contrast}",
                f"{e.logit:+.2f}",
                None,
                f"The score the map explains: positive when the model's evidence for "
                f"{a_digit(digit)} outweighs its evidence for {a_digit(e.contrast)}.",
                False,
            )
        )
    if result["scored"]:
        shown += [_score_tile(key, result) for key in FIRST_SCREEN]
    shown.append(
        (
            "Compute time",
            f"{e.seconds:.2f} s",
            None,
            f"This map's time: {e.model_passes} images went through the model (forward "
            "passes × batch)." + checking_time(e),
            False,
        )
    )
    for start in range(0, len(shown), 3):
        row = shown[start : start + 3]
        for col, (label, value, delta, help_text, tie) in zip(st.columns(3), row):
            grey = {"delta_color": "off", "delta_arrow": "off"} if tie else {}  # a tie: no arrow
            col.metric(label, value, delta, help=help_text, **grey)
    if result["scored"]:
        st.caption(_mask_rule(result))
        point = result.get("pointing_game")
        if point is not None and 0 < point < 1:  # a hit or a miss, but for a flat top
            st.caption(
                f"Pointing game {point:.2f}: the map's maximum is shared by many pixels (a flat "
                f"top, as superpixel maps have), {point:.0%} of them in the box: the chance of a "
                "hit if the tie is broken at random."
            )
    if e.probability < 0.5:
        st.warning(
            f"The model does not see {a_digit(digit)} here (P = {probability(e.probability)}): "
            "this explains a no."
        )
    # an empty mask with nothing scored is a rule that could not cut (no box to size it by):
    # the page says so elsewhere, and "loosen the threshold" would be the wrong advice
    if mask.mean() < 0.01 and (mask.any() or result["scored"]):
        st.info(
            f"The mask covers {100 * mask.mean():.1f} % of the image, under 1 %: "
            "loosen the threshold to see where the heat is."
        )
    notes = result["notes"] if result["scored"] else e.notes
    for note in notes:
        st.info(note)


def figures_panel(
    picked: Picked, e: Explanation, heat: np.ndarray, mask: np.ndarray, result: dict, digit: int
) -> tuple[float, str]:
    o1, o2 = st.columns(2)
    opacity = o1.slider(
        "Heatmap opacity", 0.0, 1.0, remembered("opacity", 0.5), step=0.05, key="opacity"
    )
    remember("opacity")
    scales = list(link.COLOUR_SCALES)
    chosen = remembered("colorscale", "Jet")
    scale = o2.selectbox(
        "Colour scale",
        scales,
        index=scales.index(chosen) if chosen in scales else 0,
        key="colorscale",
    )
    remember("colorscale")
    item = picked.model_input.item
    boxes = item.boxes_of(digit)
    heat_box = result.get("heatmap_box")
    f1, f2, f3 = st.columns(3)
    f1.plotly_chart(
        image_figure(item.image, gt_boxes=boxes, title="Model input", height=FIG), key="fig_input"
    )
    f2.plotly_chart(
        image_figure(
            item.image, heat, opacity, scale, boxes, heat_box, title="Heatmap", height=FIG
        ),
        key="fig_heat",
    )
    f3.plotly_chart(
        image_figure(
            np.repeat(mask[..., None] * 255, 3, 2).astype(np.uint8),
            gt_boxes=boxes,
            heat_box=heat_box,
            title="Mask (white: active)",
            height=FIG,
            frame="rgb(160,160,160)",
        ),
        key="fig_mask",
    )
    if picked.photo is not None:
        size, window = item.image.shape[0], picked.model_input.window
        s = picked.photo_scale
        on_photo = photo_overlay(
            picked.photo,
            heat,
            tuple(round(v * s) for v in window),
            opacity,
            scale,
            window_to_photo(boxes, window, size) * s,
            None if heat_box is None else window_to_photo(heat_box, window, size)[0] * s,
            width=max(PHOTO_WIDTH, picked.photo.shape[1]) if s == 1.0 else None,
        )
        st.image(
            on_photo,
            caption="The heatmap on the photo: the white frame is what the model sees "
            "(green: the digit's box, red: the heatmap's box).",
            width="stretch",
        )
    return opacity, scale


def baselines_panel(method: str, result: dict, mode: str, value: float) -> None:
    st.subheader("Against the baselines")
    rows = {REGISTRY[method].name: result}
    rows.update({baseline_name(k): b for k, b in result["baselines"].items()})
    score_table(rows, "baseline_table")
    st.caption(
        "Baselines know nothing about the image: a method that does not beat the strongest of "
        "them on a score has not shown, on that score, that it found the digit. The arrows "
        f"above compare with the strongest of the {baselines(drawn=False)} maps on each score; "
        f"the {baselines(drawn=True)} map's row is one draw, luck on one photo (Evaluate weighs "
        "it over many). "
        + (
            "Each row is cut at its own calibrated threshold."
            if result["threshold_source"] == "calibrated"
            else "Every row is cut by the same rule."
        )
        + (
            f" The random map is smoothed as the method's is (σ {result['protocol']['sigma']:g} "
            "px): its noise evens out near its top, so a value threshold keeps most of it."
            if mode == "value" and result["protocol"]["sigma"] > 0
            else ""
        )
    )
    st.plotly_chart(
        curve_figure({REGISTRY[method].name: result["curve"]}, result.get("cut_at")),
        key="fig_curve",
    )


def _file_stem(name: str) -> str:
    """A download's name from the image's (``train/7.png`` → ``train-7``): files from two
    photos do not overwrite each other."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name.rsplit(".", 1)[0]).strip("-") or "image"


def downloads_panel(item, e, heat, result, digit, opacity, scale) -> None:
    d1, d2, d3 = st.columns(3)
    boxes = item.boxes_of(digit)
    picture = overlay(item.image, heat, opacity, scale, boxes, result.get("heatmap_box"))
    png, npy = BytesIO(), BytesIO()
    Image.fromarray(picture).save(png, format="PNG")
    np.save(npy, e.attribution)
    name = f"{_file_stem(item.name)}_{e.method}_digit{digit}"
    d1.download_button("Overlay PNG", png.getvalue(), f"{name}.png", "image/png")
    d2.download_button("Attribution .npy", npy.getvalue(), f"{name}.npy")
    d3.download_button(
        "Scores JSON", json.dumps(scores_json(result), indent=2), f"{name}.json", "application/json"
    )


def scores_json(result: dict) -> dict:
    """What ``explain --json`` prints for this view: the scores without the plotted curves."""
    out = {k: v for k, v in result.items() if k != "curve"}
    if "baselines" in out:
        out["baselines"] = {
            name: {k: v for k, v in b.items() if k != "curve"}
            for name, b in out["baselines"].items()
        }
    return out


def cli_line(
    picked: Picked, digit, contrast, method, params, mode, value, reduction, clip, card
) -> str:
    """The ``python -m svhn_xai explain`` line whose --json equals this view's scores."""
    args = ["python", "-m", "svhn_xai", "explain", *picked.cli, "--digit", str(digit)]
    if contrast is not None:
        args += ["--contrast", str(contrast)]
    args += ["--method", method]
    for name, v in params.items():
        args += ["--param", f"{name}={link.text(v)}"]
    args += threshold_args(mode, value)
    args += ["--reduction", reduction]
    args += ["--clip-percentile", repr(clip)]
    return shlex.join([*args, *checkpoint_args(card), "--json"])


link.restore()
page_setup("Explain · svhn-xai", "🔍")
model, card, digest, digit = current()
margin = card["config"].get("margin", 0.15)

st.title("Explain")
if uploading():  # marking boxes wants half the page; the result then takes its whole width
    left, controls = st.columns([1, 1], gap="large")
    right = st.container()
else:
    left, right = st.columns([1, 2], gap="large")
    controls = left
with left:
    picked = choose_input(model.input_size, margin, digit, card.get("provenance"))
with controls:
    method, params = method_panel()
    contrast = contrast_panel(digit)
if picked is None:  # an upload to come: the link still says so
    link.save({**link.photo(None), "digit": digit, "method": method})
    st.stop()
item = picked.model_input.item
with controls:
    digits_panel(picked, digit)
with right:  # where the map will be: a slow run asks there, not below the parameters
    go = slow_run_allowed(
        model, digest, item.image, digit, method, params, "run_slow", contrast,
        draws=2 if needs_second_draw(method, params) else 1,  # a second draw, for its ρ
    )  # fmt: skip
    mode, value, reduction, clip = view_controls(method)
link.save(
    {
        **link.photo(picked.cli),
        "digit": digit,
        "contrast": contrast,
        "method": method,
        **{f"p.{k}": v for k, v in params.items()},
        "mode": mode,
        "t": None if mode == CALIBRATED else value,
        "channels": reduction,
        "clip": clip,
        # drawn further down; their state is already this run's
        "opacity": st.session_state.get("opacity", st.session_state.get("kept:opacity")),
        "scale": st.session_state.get("colorscale", st.session_state.get("kept:colorscale")),
    }
)
if not go:
    st.stop()
try:
    e = explanation(model, digest, item.image, digit, method, params, contrast)
except SvhnXaiError as exc:
    st.error(str(exc))
    st.stop()

boxes = item.boxes_of(digit) if picked.marked else np.zeros((0, 4))
rule, calibration = reading(mode, value)
result, mask = localise_with_mask(
    e, boxes, rule, reduction=reduction, clip_percentile=clip, curve=True, calibration=calibration
)
heat = e.heatmap(reduction, clip)
# the mask shown is the one scored (with no box, the one the rule cuts); None: none to draw
if mask is None:
    mask = np.zeros(heat.shape, dtype=bool)
    if rule.mode == "truth_area" and e.finite:
        how = (
            "the digit's box: mark it on the photo"
            if uploading()
            else f"the digit's box, and this photo holds no {digit}: explain a digit it holds"
        )
        with right:
            st.info(
                f"{THRESHOLD_MODES['truth_area'].label} needs {how}, or pick another threshold "
                "mode."
            )
with right:
    scores_panel(e, result, mask, digit)
    settings = (digest, item.image, digit, method, params, contrast)
    stability_line(seed_agreement(model, digest, item.image, e, params), e, settings)
    opacity, scale = figures_panel(picked, e, heat, mask, result, digit)
if result["scored"]:
    baselines_panel(method, result, mode, value)
downloads_panel(item, e, heat, result, digit, opacity, scale)
with st.expander("Reproduce: CLI command and scores"):
    st.caption("This command prints the scores below (`--json`); only the seconds differ.")
    line = cli_line(picked, digit, contrast, method, params, mode, value, reduction, clip, card)
    st.code(line, "bash", wrap_lines=True)
    st.json(scores_json(result), expanded=False)
