"""One widget per explainer parameter, drawn from the registry's declaration: its range,
default and help; a choice this machine cannot run (bfloat16 without native arithmetic) is not
offered, and the widget says so."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st
import torch
from common import current, remember, remembered

from svhn_xai.explain import REGISTRY
from svhn_xai.explain.params import Param


def param_widgets(method: str, key_prefix: str) -> dict[str, Any]:
    """One widget per registry parameter, with its range, default and help; keys
    ``{key_prefix}:{method}:{name}`` (a link or a test may set them before they are drawn)."""
    values = {}
    device = next(current()[0].parameters()).device  # where the method's passes will run
    for p in REGISTRY[method].params:
        key = f"{key_prefix}:{method}:{p.name}"
        values[p.name] = _widget(p, key, remembered(key, p.default), device)
        remember(key)
    return values


def param_label(name: str) -> str:
    """A parameter's widget label: ``n_samples`` → "N samples"."""
    return name.replace("_", " ").capitalize()


def _widget(p: Param, key: str, value: Any, device: torch.device) -> Any:
    label = param_label(p.name)
    if p.kind == "choice":
        # a choice this machine cannot run (bfloat16 without native arithmetic) is not offered
        choices = p.choices_on(device)
        missing = [c for c in p.choices if c not in choices]
        why = f" Not offered here: {', '.join(missing)} (this {device.type.upper()} cannot run it)."
        if value in missing:  # a link's or a kept choice: say why another stands in for it
            st.info(f"{param_label(p.name)} {value} does not run on this {device.type.upper()}: "
                    f"{choices[0]} instead.")  # fmt: skip
            st.session_state.pop(key, None)
        index = choices.index(value) if value in choices else 0
        help_ = p.help + (why if missing else "")
        return st.selectbox(label, choices, index=index, key=key, help=help_)
    if p.kind == "bool":
        return st.checkbox(label, value=bool(value), key=key, help=p.help)
    if p.kind == "int":
        low, high = int(p.low), int(p.high)
        if p.high - p.low <= 64:
            return st.slider(label, low, high, int(value), key=key, help=p.help)
        return st.number_input(label, low, high, int(value), key=key, help=p.help)
    step = 10 ** np.floor(np.log10(abs(p.default))) if p.default else 0.01
    return st.number_input(
        label,
        float(p.low),
        float(p.high),
        float(value),
        step=float(step),
        format="%g",
        key=key,
        help=p.help,
    )
