"""What every page shares: the sidebar (checkpoint, digit), the cached model and explanations.

A thin layer over svhn_xai: caching and widgets only, no attribution or metric logic.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from svhn_xai.checkpoint import DEFAULT_CHECKPOINT, REPO_ROOT, load_model
from svhn_xai.errors import CheckpointError
from svhn_xai.explain import REGISTRY, Explanation, explain
from svhn_xai.explain.params import Param

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


def checkpoint_choices() -> list[Path]:
    found = sorted(CHECKPOINTS.glob("*.pt"), key=lambda p: (p != DEFAULT_CHECKPOINT, p.name))
    return found


def _remembered(key: str, options: list) -> int:
    """Index of the value last picked under ``key`` (kept across pages), else 0."""
    value = st.session_state.get(key)
    return options.index(value) if value in options else 0


def sidebar() -> tuple[Any, dict, str, int] | None:
    """Checkpoint and digit pickers, remembered across pages; returns (model, card, checkpoint
    digest, digit), or None when no checkpoint loads."""
    st.sidebar.header("Model")
    names = [p.name for p in checkpoint_choices()]
    if not names:
        st.sidebar.warning("No checkpoint yet: train one on the Train page.")
        return None
    name = st.sidebar.selectbox(
        "Checkpoint",
        names,
        index=_remembered("checkpoint", names),
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
    digits = list(model.digits)
    digit = st.sidebar.selectbox(
        "Target digit",
        digits,
        index=_remembered("digit", digits),
        key="sidebar_digit",
        help="The explanations answer: why does the model think this digit is (not) here?",
    )
    st.session_state["digit"] = digit
    return model, card, digest, digit


def page_setup(title: str, icon: str, with_model: bool = True) -> None:
    """Every page's first call: page config, and the shared sidebar."""
    st.set_page_config(page_title=title, page_icon=icon, layout="wide")
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


def param_widgets(method: str, key_prefix: str) -> dict[str, Any]:
    """One widget per registry parameter, with its range, default and help."""
    values = {}
    for p in REGISTRY[method].params:
        key = f"{key_prefix}:{method}:{p.name}"
        values[p.name] = _widget(p, key)
    return values


def _widget(p: Param, key: str) -> Any:
    label = p.name.replace("_", " ")
    if p.kind == "choice":
        return st.selectbox(
            label, p.choices, index=p.choices.index(p.default), key=key, help=p.help
        )
    if p.kind == "bool":
        return st.checkbox(label, value=p.default, key=key, help=p.help)
    if p.kind == "int":
        if p.high - p.low <= 64:
            return st.slider(label, int(p.low), int(p.high), int(p.default), key=key, help=p.help)
        return st.number_input(label, int(p.low), int(p.high), int(p.default), key=key, help=p.help)
    step = 10 ** np.floor(np.log10(abs(p.default))) if p.default else 0.01
    return st.number_input(
        label,
        float(p.low),
        float(p.high),
        float(p.default),
        step=float(step),
        format="%g",
        key=key,
        help=p.help,
    )


def image_digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


@st.cache_data(show_spinner=False, max_entries=256)
def _cached_explanation(
    _model: Any,
    model_digest: str,
    _image: np.ndarray,
    image_key: str,
    digit: int,
    method: str,
    params_json: str,
    _progress: Any = None,
) -> Explanation:
    """``_model``, ``_image`` and ``_progress`` are not hashed: the digests stand for them."""
    return explain(_model, _image, digit, method, progress=_progress, **json.loads(params_json))


def explanation(
    model: Any,
    model_digest: str,
    image: np.ndarray,
    digit: int,
    method: str,
    params: dict[str, Any],
) -> Explanation:
    """The attribution for (checkpoint, image, digit, method, params), computed once and then
    served from the cache, so moving a threshold only re-runs the NumPy scoring."""
    bar = None
    if REGISTRY[method].family == "perturbation":
        bar = st.progress(0.0, text=f"{REGISTRY[method].name}: perturbing the image…")
    try:
        return _cached_explanation(
            model,
            model_digest,
            image,
            image_digest(image),
            digit,
            method,
            json.dumps(params, sort_keys=True),
            (lambda f: bar.progress(f)) if bar else None,
        )
    finally:
        if bar is not None:
            bar.empty()
