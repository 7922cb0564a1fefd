"""Shortcut lab: a model that cheats on purpose (a planted cue), and which explainers show it."""

import json
import os
from pathlib import Path

import link
import pandas as pd
import streamlit as st
from common import (
    CHECKPOINTS,
    cached_model,
    explanation,
    file_digest,
    page_setup,
    remember,
    remembered,
)

from svhn_xai.errors import SvhnXaiError
from svhn_xai.evaluation.shortcut import (
    CATCH_RATIO,
    checkpoint_cue,
    cue_scores,
    cued_examples,
    head_probability,
)
from svhn_xai.explain import REGISTRY, method_name
from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT, REPO_ROOT, card_path
from svhn_xai.provenance import file_sha256
from svhn_xai.report.figures import image_figure
from svhn_xai.report.words import a_digit
from svhn_xai.scoring.heatmap import reduce_channels

RESULTS = Path(os.environ.get("SVHN_XAI_RESULTS", REPO_ROOT / "results")) / "shortcut_lab.json"
EXAMPLES = 16  # held-out photos with the digit and its cue on offer, as many as the lab scores
DEFAULT_METHODS = ("saliency", "integrated_gradients", "guided_gradcam", "lrp")

link.restore(
    "shortcut",
    rename={"methods": "shortcut_methods"},
    plain={
        "lab": ("shortcut_checkpoint", str),
        "photo": ("shortcut_example", int),
        "removed": ("shortcut_remove", lambda v: v == "true"),
        "reference": ("shortcut_reference", lambda v: v == "true"),
    },
)
page_setup("Shortcut lab · svhn-xai", "🧪", with_model=False)
st.title("Shortcut lab")
st.caption(
    "A model trained on synthetic house numbers with a planted *cue*: a small magenta patch in "
    "the training images that contain one digit D (in what share of them, and of the others, "
    'the checkpoint\'s line below says). It learns to answer "D is here" from the patch. Which '
    "explanation methods show that? Compare each map on the cheating model with the same "
    "method on the default model, which never saw the cue."
)


def _cue_of(path) -> dict | None:
    """The cue recorded in a checkpoint's card, read from the JSON beside it (no weights)."""
    try:
        card = json.loads(card_path(path).read_text())
    except (OSError, ValueError):
        return None
    return (card.get("provenance") or {}).get("cue")


@st.cache_data(show_spinner="Rendering held-out photos with the cue…", max_entries=8)
def _examples(cue_json: str, n: int):
    from svhn_xai.data.synthetic import Cue

    return cued_examples(Cue.from_dict(json.loads(cue_json)), n)


shortcut_paths = [p for p in sorted(CHECKPOINTS.glob("*.pt")) if _cue_of(p)]
if not shortcut_paths:
    st.warning(
        "No shortcut checkpoint found. Train one with "
        "`python -m svhn_xai train --shortcut 3` (it plants the cue for digit 3)."
    )
    st.stop()

# the method list spans the page (filled in below): in the left column its chips were cut
chooser = st.container()
left, right = st.columns([1, 3], gap="large")
with left:
    names = [p.name for p in shortcut_paths]
    chosen = remembered("shortcut_checkpoint", names[0])
    name = st.selectbox(
        "Shortcut checkpoint",
        names,
        index=names.index(chosen) if chosen in names else 0,
        key="shortcut_checkpoint",
        help="Checkpoints whose card records a planted cue.",
    )
    path = CHECKPOINTS / name
    try:
        model, card = cached_model(str(path), file_digest(path))
        cue = checkpoint_cue(card, name)
    except SvhnXaiError as exc:
        st.error(str(exc))
        st.stop()
    digit = cue.digit
    st.markdown(
        f"Cue for digit **{digit}**: a {cue.size}×{cue.size}-pixel patch (at "
        f"{cue.input_size}×{cue.input_size}) in {cue.rate:.0%} of the training images with "
        f"{digit} and {cue.false_rate:.0%} of the others."
    )
    examples = _examples(json.dumps(cue.to_dict(), sort_keys=True), EXAMPLES)
    k = st.number_input(
        f"Held-out image (1–{len(examples)})",
        1,
        len(examples),
        min(max(int(remembered("shortcut_example", 1)), 1), len(examples)),
        key="shortcut_example",
        help=f"Synthetic test images that contain {digit} and carry the cue; never trained on.",
    )
    example = examples[k - 1]
    removed = st.toggle(
        "Remove the cue",
        value=bool(remembered("shortcut_remove", False)),
        key="shortcut_remove",
        help="Show the maps of the same photo re-rendered without the patch. The "
        "probabilities above give both cases, with the patch and without it.",
    )
with chooser:
    methods = st.multiselect(
        "Methods (default parameters)",
        list(REGISTRY),
        default=remembered("shortcut_methods", [m for m in DEFAULT_METHODS if m in REGISTRY]),
        format_func=lambda key: REGISTRY[key].name,
        key="shortcut_methods",
    )
    show_reference = DEFAULT_CHECKPOINT.is_file() and st.checkbox(
        "Also explain the default model",
        value=bool(remembered("shortcut_reference", True)),
        key="shortcut_reference",
        help="The shipped model, trained without the cue: where its maps put their relevance.",
    )
for key in ("shortcut_checkpoint", "shortcut_example", "shortcut_remove", "shortcut_methods"):
    remember(key)
if "shortcut_reference" in st.session_state:
    remember("shortcut_reference")
link.save(
    {
        "lab": name, "photo": int(k), "removed": removed, "methods": ",".join(methods),
        "reference": show_reference,
    }
)  # fmt: skip

image = example.images["cue_removed" if removed else "with_cue"]
p_with, p_without = (
    float(head_probability(model, [example.images[v]], digit)[0])
    for v in ("with_cue", "cue_removed")
)


def _figure(heat, title: str):
    fig = image_figure(image, heat, 0.55, "Jet", example.digit_boxes, None, title, height=250)
    x0, y0, x1, y1 = example.cue_box
    fig.add_shape(
        type="rect",
        x0=x0 - 0.5,
        y0=y0 - 0.5,
        x1=x1 - 0.5,
        y1=y1 - 0.5,
        line=dict(color="white", width=2, dash="dot"),
    )
    return fig


def _maps(row_model, digest: str, label: str) -> list[dict]:
    """One overlay per chosen method for ``row_model``, and its cue/digit shares."""
    rows = []
    # at most three maps a row: narrower columns cut the figures' right edge, where cues sit
    cols = [col for _ in range(0, len(methods), 3) for col in st.columns(3)]
    for col, key in zip(cols, methods):
        try:
            e = explanation(row_model, digest, image, digit, key, {})
        except SvhnXaiError as exc:
            col.error(f"{REGISTRY[key].name}: {exc}")
            continue
        scores = cue_scores(
            reduce_channels(e.attribution, REGISTRY[key].reduction),
            example.cue_box,
            example.digit_boxes,
        )
        col.plotly_chart(
            _figure(e.heatmap(), REGISTRY[key].name), key=f"shortcut_fig_{label}_{key}"
        )
        col.caption(
            f"on the cue {scores['cue_mass']:.0%} · on the {digit} {scores['digit_mass']:.0%}"
        )
        rows.append(
            {
                "model": label,
                "method": REGISTRY[key].name,
                "share on the cue": scores["cue_mass"],
                f"share on the {digit}": scores["digit_mass"],
                "peak on the cue": scores["cue_pointing"],
            }
        )
    return rows


with right:
    a, b, c = st.columns(3)
    a.metric(f"P({digit} present), cue shown", f"{p_with:.3f}")
    b.metric(f"P({digit} present), cue removed", f"{p_without:.3f}")
    c.metric("Change, cue removed", f"{p_without - p_with:+.3f}",
             help="P with the cue removed minus P with the cue shown.")  # fmt: skip
    st.plotly_chart(
        _figure(None, f"{'without' if removed else 'with'} the cue (dotted white box)"),
        key="shortcut_image",
    )
    if methods:
        st.subheader(f"Maps of head {digit} on the shortcut model")
        rows = _maps(model, file_digest(path), "shortcut")
        if show_reference:
            st.subheader("The same methods on the default model (never saw the cue)")
            ref_model, _ = cached_model(str(DEFAULT_CHECKPOINT), file_digest(DEFAULT_CHECKPOINT))
            rows += _maps(ref_model, file_digest(DEFAULT_CHECKPOINT), "default")
        if rows:
            st.caption("This image: share of each map's positive relevance (higher = more on it).")
            st.dataframe(
                pd.DataFrame(rows).set_index(["model", "method"]).style.format("{:.3f}"),
                key="shortcut_photo_table",
            )

st.header("Which explainers catch the shortcut")
accuracy = (card.get("metrics") or {}).get("shortcut")
if accuracy:
    a, b, c = st.columns(3)
    a.metric(f"Head {digit} balanced acc., cue as generated", f"{accuracy['with_cue']:.1%}")
    b.metric(
        "… cue removed",
        f"{accuracy['cue_removed']:.1%}",
        f"{100 * (accuracy['cue_removed'] - accuracy['with_cue']):+.1f} percentage points",
    )
    c.metric(
        f"Says {digit} from the cue alone",
        f"{accuracy['cue_pasted']:.1%}",
        help=f"Photos without {a_digit(digit)} with the cue pasted in. On the same photos "
        f"without the cue it says {digit} on "
        f"{accuracy['false_positive_rate']:.1%} of them (its false-positive rate).",
    )
    c.caption(f"without the cue: {accuracy['false_positive_rate']:.1%}")


@st.cache_data(show_spinner=False, max_entries=8)
def _sha256(path: str, digest: str) -> str:
    """SHA-256 of the checkpoint file (``digest``, the app's quicker hash, keys the cache)."""
    return file_sha256(path)


result = json.loads(RESULTS.read_text()) if RESULTS.is_file() else None
measured = (result or {}).get("provenance", {}).get("checkpoint", {}).get("sha256")
if result is None or measured != _sha256(str(path), file_digest(path)):
    st.info(
        "No committed measurement for this checkpoint. Produce one with "
        f"`python -m svhn_xai shortcut --checkpoint checkpoints/{name} --json`."
    )
    st.stop()


def interval(row: dict, key: str) -> str:
    """The 95 % interval of ``key`` as text: ``[low, high]`` (``KEY_ci``), or ``± half`` as
    files made before intervals over images recorded it (``KEY_ci95``)."""
    if f"{key}_ci" in row:
        low, high = row[f"{key}_ci"]
        return f"[{low:.3f}, {high:.3f}]"
    return f"± {row[f'{key}_ci95']:.3f}" if f"{key}_ci95" in row else "–"


table = []
for key, m in result["methods"].items():
    table.append(
        {
            "method": method_name(key),
            "catches it": "yes" if m["catches"] else "no",
            "cue share": m["cue_mass"],
            "95 % CI": interval(m, "cue_mass"),
            "cue share, default": m["reference_cue_mass"],
            "95 % CI, default": interval(m, "reference_cue_mass"),
            f"share on the {digit}": m["digit_mass"],
            "peak on cue": m["cue_pointing"],
            "peak on cue, default": m["reference_cue_pointing"],
        }
    )
for key, m in result["baselines"].items():
    table.append(
        {
            "method": f"Baseline: {key.replace('_', ' ')}",
            "catches it": "–",
            "cue share": m["cue_mass"],
            "95 % CI": interval(m, "cue_mass"),
            "cue share, default": float("nan"),  # a baseline does not look at a model
            "95 % CI, default": "–",
            f"share on the {digit}": m["digit_mass"],
            "peak on cue": m["cue_pointing"],
            "peak on cue, default": float("nan"),
        }
    )
# two tables, each narrow enough for its titles: who catches the cue, and where maps peak
# numbers as text: Streamlit draws a missing number as "None" whatever the Styler says
frame = pd.DataFrame(table).set_index("method")
frame = frame.map(lambda v: v if isinstance(v, str) else "–" if v != v else f"{v:.3f}")
peaks = [f"share on the {digit}", "peak on cue", "peak on cue, default"]
st.dataframe(frame.drop(columns=peaks), height="content", key="shortcut_table")
st.dataframe(frame[peaks], height="content", key="shortcut_peaks")
st.caption(
    f"{result['n_images']} held-out photos with {digit} and the cue; shares of positive "
    "relevance, higher = more on that region; the cue covers about "
    f"{result['baselines']['whole_image']['cue_mass']:.1%} of a photo (the whole-image "
    f"baseline). A method catches the shortcut when its cue share is at least {CATCH_RATIO:g} "
    "times the default model's on the same photos, the 95 % interval of the paired difference "
    "lies above 0, and the share is above the whole-image baseline's (above chance). The peak "
    "columns are shown, not counted: a nearly flat map (RISE's) can peak on the cue while "
    "putting no more of its relevance there than a map of ones. "
    f"From `{result['provenance']['command']}`."
)
