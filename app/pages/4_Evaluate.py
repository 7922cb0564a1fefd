"""Which explainer really finds the digit? The leaderboard over many images, with baselines."""

import contextlib
import json
import os
import shlex
from collections import OrderedDict
from pathlib import Path
from typing import Any

import link
import numpy as np
import pandas as pd
import streamlit as st
from common import (
    CALIBRATED,
    checkpoint_args,
    cli_path,
    current,
    current_calibration,
    page_setup,
    reading,
    remember,
    remembered,
    threshold_args,
    threshold_controls,
)

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.errors import SvhnXaiError
from svhn_xai.evaluation.run import EvaluationOptions, run_evaluation
from svhn_xai.explain import REGISTRY, method_name
from svhn_xai.model.checkpoint import REPO_ROOT
from svhn_xai.report.figures import sanity_figure, small_multiples
from svhn_xai.scoring.metrics import THRESHOLD_GRID
from svhn_xai.scoring.protocol import THRESHOLD_MODES
from svhn_xai.scoring.registry import METRICS

RESULTS = Path(os.environ.get("SVHN_XAI_RESULTS", REPO_ROOT / "results"))
SAMPLE = REPO_ROOT.parent / "shared" / "svhn-sample"
DEFAULT_METHODS = ["saliency", "integrated_gradients", "guided_gradcam", "lrp"]
# pairs explained together: half the CLI's batch, so that the progress bar moves on a page run
PROGRESS_EVERY = 16

# the leaderboard's tables, each narrow enough that no column title is cut: by metric key, with
# labels, help and formats from the metric registry
LEADERBOARD = (
    ("Does the map point at the digit?",
     ("pxap", "max_box_acc", "iou_1", "iou_2", "pointing_game", "relevance_mass")),
    ("Are its hottest pixels the digit's, and its own digit's?",
     ("rank_accuracy", "class_sensitivity")),
    ("Does removing what the map marks change the digit's probability?",
     ("auc_deletion_black", "auc_deletion_blur", "auc_insertion_black", "auc_insertion_blur")),
    ("The same with ROAD's removal, filled in from the neighbours and noise",
     ("road_morf", "road_lerf")),
    ("Seconds per map", ("seconds",)),
)  # fmt: skip

SOURCES = {"saved": "Saved run", "compute": "Compute now"}  # as the URL names them
arriving = not st.session_state.get("link_restored:evaluate")
link.restore(
    "evaluate",
    prefix="eval_threshold",
    rename={"methods": "eval_methods"},
    plain={
        "results": ("eval_source", SOURCES.__getitem__),
        "file": ("eval_file", str),
        "images": ("eval_images", str),
        "sanity": ("eval_sanity", int),
    },
)
if arriving and "n" in st.query_params:  # the number of images is kept per image set
    with contextlib.suppress(ValueError, KeyError):
        images = st.session_state["kept:eval_images"]
        st.session_state[f"kept:eval_limit:{images}"] = int(st.query_params["n"])
page_setup("Evaluate · svhn-xai", "📊")
model, card, digest, digit = current()
calibration, no_calibration = current_calibration()


def image_sets() -> dict[str, tuple[str, str, str | None, str | None]]:
    """Label -> (data, split, root, indices) of the image sets this server has."""
    sets = {"Synthetic test images": ("synthetic", "test", None, None)}
    if (SAMPLE / "train").is_dir():
        # photos 193-256 of the sample: held out from every choice made on the others
        sets["Real SVHN photos, held out (193–256)"] = ("svhn", "train", str(SAMPLE), "192:256")
    if (REPO_ROOT / "data" / "svhn" / "test").is_dir():
        sets["Real SVHN test split (downloaded)"] = ("svhn", "test", "data/svhn", None)
    return sets


@st.cache_resource(max_entries=4)
def _store(model_digest: str) -> OrderedDict:
    """Computed leaderboards of one checkpoint, keyed by their settings; shared by sessions."""
    return OrderedDict()


def _remember(store: OrderedDict, key: str, summary: dict[str, Any]) -> None:
    store[key] = summary
    store.move_to_end(key)
    while len(store) > 16:
        store.popitem(last=False)


def _evaluate(
    where: tuple, limit: int, methods: list[str], mode: str, value: float, sanity: int
) -> dict[str, Any]:
    """The library's run over the first ``limit`` images of ``where`` (data, split, root,
    indices), with a progress bar."""
    data, split, root, indices = where
    margin = card["config"].get("margin", 0.15)
    source = open_source(data, split, root, indices=indices)
    items = [to_model_input(source[i], model.input_size, margin).item for i in range(limit)]
    bar = st.progress(0.0, text="explaining…")
    rule, chosen = reading(mode, value)

    def progress(done: int, total: int) -> None:
        text = f"{done} of {total} (image, digit) pairs"
        bar.progress(
            done / total, text="randomisation check…" if done == total and sanity else text
        )

    options = EvaluationOptions(
        methods, protocol=rule, calibrated=chosen.values if chosen else None,
        batch_size=PROGRESS_EVERY, sanity=sanity,
    )  # fmt: skip
    summary = run_evaluation(model, items, options, progress=progress)
    bar.empty()
    summary.update(data=data, split=split, indices=indices, limit=limit)
    return summary


def cli_line(where: tuple, limit: int, methods: list[str], mode: str, value: float, sanity: int):
    """The ``python -m svhn_xai evaluate`` line whose --json holds this panel's leaderboard."""
    data, split, root, indices = where
    args = ["python", "-m", "svhn_xai", "evaluate", "--data", data, "--split", split]
    if root is not None:
        args += ["--root", cli_path(root)]
    if indices is not None:
        args += ["--indices", indices]
    args += ["--limit", str(limit), "--methods", ",".join(methods), *threshold_args(mode, value)]
    if sanity:
        args += ["--sanity", str(sanity)]
    return shlex.join([*args, *checkpoint_args(card), "--json", "leaderboard.json"])


def compute_panel() -> dict[str, Any] | None:
    """Settings, the Evaluate button, and the leaderboard for them (computed or cached)."""
    sets = image_sets()
    c1, c2 = st.columns(2)
    labels = list(sets)
    chosen = remembered("eval_images", labels[0])
    label = c1.selectbox(
        "Images", labels, index=labels.index(chosen) if chosen in labels else 0, key="eval_images"
    )
    remember("eval_images")
    data, split, root, indices = sets[label]
    try:
        available = len(open_source(data, split, root, indices=indices))
    except SvhnXaiError as exc:
        st.error(f"{label}: {exc}")
        return None
    most = min(available, 200)
    limit = c2.slider(
        "Number of images",
        1,
        most,
        min(int(remembered(f"eval_limit:{label}", 10)), most),
        key=f"eval_limit:{label}",  # one per set: their sizes differ
        help="The first N images of the set; every digit present in an image is one pair.",
    )
    remember(f"eval_limit:{label}")
    methods = st.multiselect(
        "Methods",
        list(REGISTRY),
        default=remembered("eval_methods", DEFAULT_METHODS),
        format_func=lambda k: REGISTRY[k].name,
        key="eval_methods",
    )
    remember("eval_methods")
    mode, value = threshold_controls("eval_threshold", *st.columns(2))
    sanity = st.number_input(
        "Images for the randomisation check (0 = skip)",
        0,
        32,
        min(max(int(remembered("eval_sanity", 0)), 0), 32),
        key="eval_sanity",
        help="Layers are re-initialised from the head down; a method whose heatmaps barely "
        "change does not explain the model. Costs about 6 explanations per image and method.",
    )
    remember("eval_sanity")
    link.save(
        {
            "results": "compute", "images": label, "n": limit, "methods": ",".join(methods),
            "mode": mode, "t": None if mode == CALIBRATED else value, "sanity": int(sanity),
        }
    )  # fmt: skip
    sanity = min(int(sanity), limit)
    settings = dict(
        images=label, limit=limit, methods=sorted(methods), mode=mode, value=value, sanity=sanity
    )
    key = json.dumps(settings, sort_keys=True)
    with st.expander("Reproduce: CLI command"):
        st.caption("This command writes these settings' leaderboard to leaderboard.json.")
        st.code(
            cli_line(sets[label], limit, sorted(methods), mode, value, sanity),
            "bash",
            wrap_lines=True,
        )
    store = _store(digest)
    if st.button("Evaluate", type="primary", key="eval_run", disabled=not methods):
        summary = _evaluate(sets[label], limit, methods, mode, value, sanity)
        summary["images"] = label
        _remember(store, key, summary)
        st.session_state["eval_key"] = key
    if key in store:
        return store[key]
    last = st.session_state.get("eval_key")
    if last in store:
        st.info("The settings changed: the results below are those of the last evaluation. "
                "Press Evaluate for the current settings.")  # fmt: skip
        return store[last]
    return None


def _is_leaderboard(path: Path) -> bool:
    """results/ also holds the benchmarks' measurements: offer only `evaluate --json` runs."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    # the shortcut lab's file has methods and baselines too, but no (image, digit) pairs
    return isinstance(data, dict) and {"methods", "baselines", "n_pairs"} <= data.keys()


def saved_panel() -> dict[str, Any] | None:
    saved = [p for p in sorted(RESULTS.glob("*.json")) if _is_leaderboard(p)]
    if not saved:
        st.info("No saved results yet: compute some here, or with `python -m svhn_xai evaluate`.")
        return None
    names = [p.name for p in saved]
    chosen = remembered("eval_file", names[0])
    name = st.selectbox(
        "Saved run", names, index=names.index(chosen) if chosen in names else 0, key="eval_file"
    )
    remember("eval_file")
    link.save({"results": "saved", "file": name})
    try:
        return json.loads((RESULTS / name).read_text())
    except (OSError, ValueError):  # replaced or removed since the list was made
        st.error(f"{name} is no longer a readable results file.")
        return None


def describe(summary: dict[str, Any]) -> str:
    """One line on what was scored, without the server's file paths."""
    images = summary.get("images") or " ".join(
        str(summary[k]) for k in ("data", "split") if summary.get(k)
    )
    if summary.get("indices") and "images" not in summary:
        # the CLI's 0-based slice, as the app numbers photos: 192:256 is 193.png to 256.png
        start, _, stop = str(summary["indices"]).partition(":")
        if start.isdigit() and stop.isdigit():
            images += f", photos {int(start) + 1}–{stop}"
        else:
            images += f" (images {summary['indices']})"
    name = Path(str(summary.get("checkpoint") or "")).name
    checkpoint = f"checkpoint {name}" if name else "the sidebar's checkpoint"
    mode = THRESHOLD_MODES.get(summary.get("threshold_mode"))
    rule = mode.label if mode else summary.get("threshold_mode", "–")
    if summary.get("threshold_source") == "calibrated":
        rule += ", each method and baseline at its own calibrated value"
    elif mode is not None and mode.param is not None:
        rule += f" {summary['threshold']:g}"
    return (
        f"{images} · {summary['n_images']} images, {summary.get('n_pairs', '–')} (image, digit) "
        f"pairs · {checkpoint} · mask rule: {rule}"
    )


def _board_table(rows: dict[str, dict[str, Any]], metrics: list, key: str) -> None:
    """One table of the leaderboard: a row per method and baseline, a column per metric."""
    titles = {m.key: m.column for m in metrics}
    table = pd.DataFrame(
        {name: {titles[m.key]: r.get(m.key) for m in metrics} for name, r in rows.items()}
    ).T.astype(float)
    # Streamlit draws a missing number as "None": a column with gaps becomes text, "–" in them
    # (its values stay in order as text: all but the seconds lie in [0, 1])
    gaps = {m.key for m in metrics if table[titles[m.key]].isna().any()}
    for m in metrics:
        if m.key in gaps:
            table[titles[m.key]] = [m.format(v) for v in table[titles[m.key]]]
    config = {
        titles[m.key]: (
            st.column_config.TextColumn if m.key in gaps else st.column_config.NumberColumn
        )(
            titles[m.key],
            help=m.describe(),
            alignment="right",
            **({} if m.key in gaps else {"format": f"%.{m.digits}f"}),
        )
        for m in metrics
    }
    # a table of one or two scores keeps its width: stretched, a column of seconds spans the page
    width = "stretch" if len(metrics) > 2 else "content"
    st.dataframe(table, column_config=config, width=width, height="content", key=key)


def leaderboard(summary: dict[str, Any]) -> None:
    """The means (sortable numbers), their intervals, and who beats the strongest baseline."""
    sensitivity = summary.get("class_sensitivity") or {}

    def with_sensitivity(section: str, key: str, r: dict[str, Any]) -> dict[str, Any]:
        score = ((sensitivity.get(section) or {}).get(key) or {}).get("score")
        return r if score is None else {**r, "class_sensitivity": score}

    rows = {}
    for key, r in summary["methods"].items():
        rows[method_name(key)] = with_sensitivity("methods", key, r)
    for key, r in summary["baselines"].items():
        rows[f"Baseline: {key.replace('_', ' ')}"] = with_sensitivity("baselines", key, r)
    groups = []
    for title, keys in LEADERBOARD:
        shown = [METRICS[k] for k in keys if any(k in r for r in rows.values())]
        if shown:
            groups.append((title, shown))
    for i, (title, shown) in enumerate(groups):
        st.markdown(f"**{title}**")
        _board_table(rows, shown, f"leaderboard:{i}")
    st.caption(
        "Baselines know nothing about the image and are scored exactly like the methods. "
        "Click a column to sort; hover over its title for what it measures."
    )
    metrics = [m for _, shown in groups for m in shown]
    with_ci = [m for m in metrics if any(f"{m.key}_ci" in r for r in rows.values())]
    if with_ci:
        with st.expander("95 % intervals", expanded=False):
            st.caption(summary.get("interval", "95 % intervals."))
            cols = [[m for m in shown if m in with_ci] for _, shown in groups]
            # four intervals to a table: an interval is as wide as a long title
            for i, chunk in enumerate(c[j : j + 4] for c in cols for j in range(0, len(c), 4)):
                intervals = pd.DataFrame(
                    {
                        name: {m.column: _interval(m, r.get(f"{m.key}_ci")) for m in chunk}
                        for name, r in rows.items()
                    }
                ).T
                st.dataframe(intervals, key=f"leaderboard_intervals:{i}")
    beaten = []
    for m in [m for m in with_ci if m.direction != "neither"]:
        if not any(m.key in (r.get("versus") or {}) for r in summary["methods"].values()):
            continue  # a score no baseline has (seconds, class sensitivity)
        wins = [
            method_name(k)
            for k, r in summary["methods"].items()
            if (r.get("versus") or {}).get(m.key, {}).get("beats")
        ]
        named = f" ({', '.join(wins)})" if 0 < len(wins) <= 6 else ""
        beaten.append(f"{m.label}: {len(wins)} of {len(summary['methods'])}{named}")
    if beaten:
        st.caption(
            "Methods that beat the strongest baseline on each score (the whole interval on the "
            "better side of that baseline's mean): " + "; ".join(beaten) + "."
        )


def _interval(metric, ci: list[float] | None) -> str:
    return "–" if not ci else f"[{metric.format(ci[0])}, {metric.format(ci[1])}]"


def curves(summary: dict[str, Any]) -> None:
    methods = {k: r for k, r in summary["methods"].items() if "curve_iou_1" in r}
    if not methods:
        return
    names = {k: method_name(k) for k in methods}
    shown = st.multiselect(
        "Methods in the charts",
        list(methods),
        default=list(methods),
        format_func=names.get,
        key="eval_chart_methods",
    )
    grid = THRESHOLD_GRID.tolist()
    mode = summary.get("threshold_mode")
    st.subheader("IoU against the threshold")
    st.plotly_chart(
        small_multiples(
            {
                names[k]: [
                    {"name": "IoU₁ pixels", "x": grid, "y": methods[k]["curve_iou_1"]},
                    {"name": "IoU₂ box", "x": grid, "y": methods[k]["curve_iou_2"], "dash": "dot"},
                ]
                for k in shown
            },
            "value threshold",
            "IoU",
            vline=summary["threshold"] if mode == "value" else None,
        ),
        key="eval_curves",
    )
    st.subheader("Deletion and insertion")
    st.caption(
        "The digit's probability as its hottest pixels are deleted to black (a faithful map "
        "makes it drop fast) or inserted into a blurred copy (it should rise fast): the "
        '"Deletion, black" and "Insertion, blur" columns above. The curves start from '
        "different images (the photo, its blurred copy), so they do not meet."
    )
    panels = {}
    for k in shown:
        xs = np.linspace(0, 1, len(methods[k]["deletion"])).tolist()
        panels[names[k]] = [
            {"name": "deletion to black (lower is better)", "x": xs, "y": methods[k]["deletion"]},
            {
                "name": "insertion into blur (higher is better)",
                "x": xs,
                "y": methods[k]["insertion"],
            },
        ]
    st.plotly_chart(
        small_multiples(panels, "share of pixels changed", "P(digit)"), key="eval_faith"
    )


st.title("Evaluate")
st.write(
    "Every method's heatmaps over many images, scored exactly like the trivial baselines. "
    "A method that does not beat the strongest baseline on a score has not shown, on that "
    "score, that it finds the digit."
)
choices = ["Saved run", "Compute now"]
source = st.radio(
    "Results",
    choices,
    index=choices.index(remembered("eval_source", choices[0])),
    horizontal=True,
    key="eval_source",
    help="Saved runs are the JSON files of `python -m svhn_xai evaluate --json …` in results/.",
)
remember("eval_source")
summary = compute_panel() if source == "Compute now" else saved_panel()
if summary is not None:
    st.caption(describe(summary))
    leaderboard(summary)
    curves(summary)
    if "sanity" in summary:
        st.subheader("Sanity check: cascading randomisation")
        st.plotly_chart(sanity_figure(summary["sanity"]), key="eval_sanity_chart")
        rows = summary["sanity"]["methods"].items()
        flat = [
            method_name(k) for k, r in rows if r["flagged"] and r.get("reason", "flat") == "flat"
        ]
        undefined = [method_name(k) for k, r in rows if r.get("reason") == "undefined"]
        if flat:
            st.warning(f"Barely change when the model is randomised: {', '.join(flat)}")
        if undefined:
            st.warning(
                "No rank correlation left once the model is randomised (every map constant or "
                f"not finite), so nothing shows they depend on the weights: {', '.join(undefined)}"
            )
