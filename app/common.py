"""What every page shares: the sidebar (checkpoint, digit), the cached model and explanations.

A thin layer over svhn_xai: caching and widgets only, no attribution or metric logic.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from photos import default_digit

from svhn_xai.errors import CheckpointError, SvhnXaiError
from svhn_xai.explain import REGISTRY, Explanation, explain
from svhn_xai.explain.cost import estimated_seconds, record
from svhn_xai.explain.stability import agreement, is_sampled, second_draw, split_half
from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT, REPO_ROOT, load_model
from svhn_xai.provenance import file_sha256
from svhn_xai.report.words import guessing_note
from svhn_xai.scoring.calibration import Calibration, load_calibration
from svhn_xai.scoring.localisation import resolve_protocol
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL, THRESHOLD_MODES, Protocol
from svhn_xai.scoring.registry import METRICS

SLOW_SECONDS = 30.0  # settings estimated to take longer run only when the user asks

# where the sidebar looks for checkpoints (tests point it elsewhere)
CHECKPOINTS = Path(os.environ.get("SVHN_XAI_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def file_digest(path: str | Path) -> str:
    """Content hash of a checkpoint: the cache key of everything computed with it."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


@st.cache_resource(show_spinner="Loading model…", max_entries=4)
def cached_model(path: str, digest: str):
    """One shared, read-only model per checkpoint file content (``digest`` keys the cache)."""
    return load_model(path)


@st.cache_resource(max_entries=4)
def calibration_of(path: str, digest: str) -> tuple[Calibration | None, str]:
    """The checkpoint's calibration file (:mod:`svhn_xai.scoring.calibration`), or None and why not;
    ``digest`` keys the cache, the file's own SHA-256 ties it to the checkpoint."""
    return load_calibration(path, file_sha256(path))


CALIBRATED = "calibrated"  # the threshold controls' first choice: each method at its own value
MODE_LABELS = {
    CALIBRATED: "Calibrated per method",
    **{k: m.label for k, m in THRESHOLD_MODES.items()},
}


def checkpoint_choices() -> list[Path]:
    found = sorted(CHECKPOINTS.glob("*.pt"), key=lambda p: (p != DEFAULT_CHECKPOINT, p.name))
    return found


def remembered(key: str, default: Any) -> Any:
    """The value to draw widget ``key`` with: the user's last choice (or a link's), else
    ``default``. Streamlit drops a widget's own state after a run that does not draw it (a
    page that stops early, another page), so pages pass this as the widget's value and call
    :func:`remember` after it."""
    return st.session_state.get(f"kept:{key}", default)


def remember(key: str) -> None:
    st.session_state[f"kept:{key}"] = st.session_state[key]


def sidebar() -> tuple[Any, dict, str, int] | None:
    """Checkpoint and digit pickers, remembered across pages; returns (model, card, checkpoint
    digest, digit), or None when no checkpoint loads."""
    st.sidebar.header("Model")
    names = [p.name for p in checkpoint_choices()]
    if not names:
        st.sidebar.warning("No checkpoint yet: train one on the Train page.")
        return None
    # set through the widget's key alone, as a link or the Train page's "Use" button sets it
    current = st.session_state.get("sidebar_checkpoint", st.session_state.get("checkpoint"))
    st.session_state["sidebar_checkpoint"] = current if current in names else names[0]
    name = st.sidebar.selectbox(
        "Checkpoint",
        names,
        key="sidebar_checkpoint",
        help="Models in checkpoints/. default.pt ships with the repository; runs you train "
        "on the Train page appear here too.",
    )
    st.session_state["checkpoint"] = name
    path = CHECKPOINTS / name
    digest = file_digest(path)  # hashed once per rerun: it keys the model and every explanation
    try:
        model, card = cached_model(str(path), digest)
    except CheckpointError as exc:
        st.sidebar.error(str(exc))
        if path == DEFAULT_CHECKPOINT or not DEFAULT_CHECKPOINT.is_file():
            return None
        st.sidebar.info("Using the shipped default checkpoint instead.")
        path = DEFAULT_CHECKPOINT
        digest = file_digest(path)
        model, card = cached_model(str(path), digest)
    guessing = guessing_note(card.get("metrics", {}).get("test", {}))
    if guessing:  # on every page that explains: the maps of a guessing model explain guesses
        st.sidebar.warning(guessing)
    digits = list(model.digits)
    # the widget's value is set through its key alone (a callback may have set it): a default
    # passed beside it would make Streamlit warn on every start
    current = st.session_state.get("sidebar_digit", st.session_state.get("digit"))
    st.session_state["sidebar_digit"] = (
        current if current in digits else default_digit(digits, card.get("provenance", {}))
    )
    digit = st.sidebar.selectbox(
        "Target digit",
        digits,
        key="sidebar_digit",
        help="The explanations answer: why does the model think this digit is (not) here?",
    )
    st.session_state["digit"] = digit
    return model, card, digest, digit


def page_setup(title: str, icon: str, with_model: bool = True) -> None:
    """Every page's first call: page config, and the shared sidebar."""
    st.set_page_config(page_title=title, page_icon=icon, layout="wide")
    refused = st.session_state.pop("link_refused", None)  # set by link.restore, said once
    if refused:
        st.warning(
            f"This link's {', '.join(f'`{r}`' for r in refused)} could not be used (unknown or "
            "out of range); the page's defaults stand in for "
            f"{'it' if len(refused) == 1 else 'them'}."
        )
    st.session_state["loaded"] = sidebar() if with_model else None


def use_digit(digit: int) -> None:
    """Button callback: make ``digit`` the target (runs before the sidebar is drawn)."""
    st.session_state["sidebar_digit"] = digit
    st.session_state["digit"] = digit


def current() -> tuple[Any, dict, str, int]:
    """The model picked in the sidebar; without one, say why and offer the Train page."""
    loaded = st.session_state.get("loaded")
    if loaded is None:
        st.warning("No usable checkpoint is available: train one first.")
        st.page_link("pages/3_Train.py", label="Go to the Train page", icon="🏋️")
        st.stop()
    return loaded


def current_calibration() -> tuple[Calibration | None, str]:
    """The sidebar checkpoint's calibration (:func:`calibration_of`), or None and why not."""
    _, card, digest, _ = current()
    return calibration_of(card["path"], digest)


def threshold_controls(
    prefix: str, mode_column: Any = st, value_column: Any = st
) -> tuple[str, float]:
    """The mask rule's widgets, built from :data:`svhn_xai.scoring.protocol.THRESHOLD_MODES`: a
    "Threshold mode" radio (key ``{prefix}_mode``) and, when the mode has a parameter, a slider
    labelled with it (key ``{prefix}_{mode}``). When the checkpoint has a calibration file, the
    first choice, and the default, is :data:`CALIBRATED`: each method and baseline at its own
    calibrated value; without one, a caption says why there is none.

    Returns (mode key, parameter value; 0.0 for a mode without one); see :func:`reading`."""
    calibration, why = current_calibration()
    modes = ([CALIBRATED] if calibration else []) + list(THRESHOLD_MODES)
    chosen = remembered(f"{prefix}_mode", CALIBRATED if calibration else DEFAULT_PROTOCOL.mode)
    calibrated_help = (
        "Calibrated per method: each method and each baseline cut at the value that gave it "
        f"the best mean IoU₁ on {calibration.chosen_on()}"
        ", never on the photo shown. "
        if calibration
        else ""
    )
    key = mode_column.radio(
        "Threshold mode",
        modes,
        index=modes.index(chosen) if chosen in modes else 0,
        format_func=MODE_LABELS.__getitem__,
        key=f"{prefix}_mode",
        help="How the heatmap becomes a mask. "
        + calibrated_help
        + " ".join(f"{m.label}: {m.help}" for m in THRESHOLD_MODES.values()),
    )
    remember(f"{prefix}_mode")
    if calibration is None:
        mode_column.caption(why[:1].upper() + why[1:] + ".")
    if key == CALIBRATED:
        said = calibration.describe()
        value_column.caption(said[:1].upper() + said[1:] + ". Pick a mode to set one rule for all.")
        return key, 0.0
    mode = THRESHOLD_MODES[key]
    if mode.param is None:
        value_column.caption(mode.help)
        return key, 0.0
    default = DEFAULT_PROTOCOL.value if key == DEFAULT_PROTOCOL.mode else mode.default
    value = value_column.slider(
        mode.param,
        float(mode.low),
        float(mode.high),
        float(remembered(f"{prefix}_{key}", default)),
        step=float(mode.step),
        key=f"{prefix}_{key}",
        help=mode.help,
        format="%d" if float(mode.step).is_integer() else "%.2f",
    )
    remember(f"{prefix}_{key}")
    return key, float(value)


def reading(mode: str, value: float) -> tuple[Protocol, Calibration | None]:
    """The rule :func:`threshold_controls` chose: the calibration's (for :data:`CALIBRATED`),
    or one fixed protocol for every method and baseline."""
    calibration = current_calibration()[0]
    if mode == CALIBRATED and calibration is not None:
        return calibration.protocol, calibration
    return resolve_protocol(mode if mode != CALIBRATED else None, value or None), None


def image_digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


class _Explanations:
    """Explanations already computed, shared by every session: the least recently used are
    dropped beyond ``size``. Entries are read-only (pages never modify an Explanation)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Explanation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Explanation | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, value: Explanation) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _explanations() -> _Explanations:
    # a cache_resource holding plain results, not a cache_data around explain(): the progress
    # bar below belongs to this run only, and no replay of a cached call can ever touch it
    return _Explanations()


def _key(
    model_digest: str,
    image: np.ndarray,
    digit: int,
    method: str,
    params: dict[str, Any],
    contrast: int | None = None,
) -> tuple:
    params_text = json.dumps(params, sort_keys=True)
    return (model_digest, image_digest(image), digit, contrast, method, params_text)


def explanation(
    model: Any,
    model_digest: str,
    image: np.ndarray,
    digit: int,
    method: str,
    params: dict[str, Any],
    contrast: int | None = None,
) -> Explanation:
    """The attribution for (checkpoint, image, digit, contrast, method, params), computed once
    and then served from the cache, so moving a threshold only re-runs the NumPy scoring.
    ``contrast`` E explains "digit and not E" (the difference of the two logits). Perturbation
    methods show a progress bar while they compute (never when served from the cache)."""
    key = _key(model_digest, image, digit, method, params, contrast)
    found = _explanations().get(key)
    if found is not None:
        return found
    spec = REGISTRY[method]
    bar = None
    if spec.family == "perturbation":
        bar = st.progress(0.0, text=f"{spec.name}: perturbing the image…")
    try:
        result = explain(
            model,
            image,
            digit,
            method,
            progress=bar.progress if bar else None,
            contrast=contrast,
            **params,
        )
    finally:
        if bar is not None:
            bar.empty()
    if contrast is None:  # what these settings took is the next estimate of them
        record(model, method, params, result)
    _explanations().put(key, result)
    return result


def seed_agreement(
    model: Any,
    model_digest: str,
    image: np.ndarray,
    e: Explanation,
    params: dict[str, Any],
) -> dict[str, Any] | None:
    """For a sampling method, how much another draw would agree with ``e``: from the two
    halves of its own samples where it has them (:func:`svhn_xai.explain.stability.split_half`),
    else from a second draw (the seeds after its own, every other setting the same), an
    explanation like any other, computed once and kept. None for other methods."""
    if not is_sampled(e.method):
        return None
    if e.halves is not None:
        return split_half(e)
    again = second_draw(params, e.params["seed"])
    with st.spinner("Drawing the map a second time, with the next seeds, to see if it holds…"):
        second = explanation(model, model_digest, image, e.digit, e.method, again, e.contrast)
    return agreement(e, second)


def cli_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a command run in the repository spells it (relative, never the server's
    absolute path)."""
    return os.path.relpath(os.path.realpath(path), REPO_ROOT)


def checkpoint_args(card: dict[str, Any]) -> list[str]:
    """``--checkpoint PATH`` for a CLI line, where the model is not the shipped one."""
    if os.path.realpath(card["path"]) == os.path.realpath(DEFAULT_CHECKPOINT):
        return []
    return ["--checkpoint", cli_path(card["path"])]


def threshold_args(mode: str, value: float | None) -> list[str]:
    """The CLI flags of the page's mask rule; none for the calibrated reading, which is the
    commands' default. The value goes too for a mode without a parameter, so the command's
    JSON records the same rule as the page's (without it, the default rule's value would)."""
    if mode == CALIBRATED:
        return []
    return ["--threshold-mode", mode, "--threshold", repr(value)]


def slow_run_allowed(
    model: Any,
    model_digest: str,
    image: np.ndarray,
    digit: int,
    method: str,
    params: dict[str, Any],
    button_key: str,
    contrast: int | None = None,
    draws: int = 1,
) -> bool:
    """False (after a warning and a "Run anyway" button) when these settings are estimated to
    take over :data:`SLOW_SECONDS`; True when they are fast, already computed, or the user has
    asked to run them (remembered for these settings, so later reruns keep the result).
    ``draws``: explanations the page computes with these settings (2 where a sampling method
    is drawn a second time to measure its stability)."""
    key = _key(model_digest, image, digit, method, params, contrast)
    approved = st.session_state.setdefault("slow_runs_approved", set())
    if key in approved or _explanations().get(key) is not None:
        return True
    try:
        with st.spinner("Timing a small run to estimate these settings…"):
            eta = estimated_seconds(model, method, params, image) * draws
    except SvhnXaiError:
        return True  # settings that cannot run: the explanation fails with the reason, shown
    if eta <= SLOW_SECONDS:
        return True
    notice = st.empty()  # cleared once the user runs it: no warning beside the result
    with notice.container():
        st.warning(
            f"{REGISTRY[method].name} with these settings takes about {eta:.0f} s on this machine"
            + (
                " (the map, and a second one from the next seeds to see if it holds)."
                if draws > 1
                else "."
            )
        )
        run = st.button("Run anyway", key=button_key)
    if run:
        approved.add(key)
        notice.empty()
        return True
    return False


def approve_slow_run(settings: tuple) -> None:
    """Count ``settings`` (model digest, image, digit, method, params, contrast) as asked for:
    a button that names its own time is the consent :func:`slow_run_allowed` would ask for."""
    st.session_state.setdefault("slow_runs_approved", set()).add(_key(*settings))


# the scores a table shows, by metric key (labels, help and formats from the metric registry);
# baselines get the same columns by the same computation
SCORE_COLUMNS = (
    "pxap", "iou_1", "iou_2", "max_box_acc", "pointing_game", "relevance_mass", "active_fraction",
)  # fmt: skip
SECONDS_HELP = "Wall time of the attribution alone (served from the cache: the first run's time)."


def baseline_name(key: str) -> str:
    return "Baseline: " + key.replace("_", " ")


def score_table(rows: dict[str, dict[str, Any]], key: str, seconds: bool = False) -> None:
    """A table of :data:`SCORE_COLUMNS` for ``rows`` (name -> localise-style scores), with the
    help of each column; a value a row lacks is shown as "–"."""
    metrics = [METRICS[k] for k in (*SCORE_COLUMNS, *(("seconds",) if seconds else ()))]
    table, config = {}, {}
    for m in metrics:
        title, help_text = m.column, m.describe()
        if m.key == "seconds":
            help_text = SECONDS_HELP
        values = [r.get(m.key) for r in rows.values()]
        if any(v is None for v in values):
            # Streamlit draws a missing number as "None" whatever the Styler says: this column
            # goes as text (the others stay numbers, so they sort as numbers)
            table[title] = [m.format(v) for v in values]
            config[title] = st.column_config.TextColumn(
                title,
                help=help_text,
                alignment="right",  # numbers as text, aligned as numbers
            )
        else:
            table[title] = [float(v) for v in values]
            config[title] = st.column_config.NumberColumn(
                title, help=help_text, format=f"%.{m.digits}f"
            )
    frame = pd.DataFrame(table, index=pd.Index(list(rows), name="Method"))
    st.dataframe(frame, column_config=config, key=key, width="stretch", height="content")
