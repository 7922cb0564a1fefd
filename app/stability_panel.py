"""The seed-to-seed line under a sampling method's map, with its Average-draws button."""

import math

import streamlit as st
from common import approve_slow_run
from param_widgets import param_label

from svhn_xai.explain import REGISTRY, Explanation
from svhn_xai.explain.draws import DRAWS
from svhn_xai.explain.stability import STABLE_RHO, is_sampled, needs_second_draw


def _more_draws(key: str, draws: int, settings: tuple) -> None:
    """Button callback: average ``draws`` draws (the parameter's widget is ``key``); the button
    named their time, so no slow-run warning asks again (``settings``: its arguments)."""
    # the widget is drawn anew at its remembered value: setting its own state as well as
    # passing it a value would make Streamlit warn
    st.session_state[f"kept:{key}"] = draws
    st.session_state.pop(key, None)
    approve_slow_run(settings)


def shown_rho(rho: float, stable: bool) -> str:
    """ρ to two decimals, or, where two would round an unstable map up to the line, three
    rounded down (0.897 is "0.897" and 0.8996 "0.899", never a "0.90" or "0.900" that reads as
    stable beside a warning that it is not)."""
    if not stable and round(rho, 2) >= STABLE_RHO:
        return f"{math.floor(rho * 1000) / 1000:.3f}"
    return f"{rho:.2f}"


def times(k: float) -> str:
    """A budget multiple in words: whole above 2 ("4×"), else rounded up to a tenth ("1.1×"),
    so that a small raise never reads as "about 1×", no raise at all."""
    return f"{k:.0f}×" if k >= 2 else f"{math.ceil(k * 10) / 10:.1f}×"


def checking_time(e: Explanation) -> str:
    """What measuring whether ``e`` holds cost, for its time's help ('' for a method that
    draws nothing at random)."""
    if not is_sampled(e.method):
        return ""
    if needs_second_draw(e.method, e.params):
        return " The second draw that measures whether the map holds took about as long again."
    return (
        " Whether the map holds is measured from the two halves of its own samples: no image more."
    )


def _source(found: dict) -> str:
    """Where ρ comes from, in words."""
    if "half_rho" in found:
        return (
            f"from the two halves of this map's own samples (their ρ {found['half_rho']:.2f}, "
            "stepped up to the whole map; Spearman, 1 = the same ranking of pixels)"
        )
    return (
        "between this map and a second draw with the next seeds (Spearman, 1 = the same "
        "ranking of pixels)"
    )


def stability_line(found: dict | None, e: Explanation, settings: tuple) -> None:
    """Whether a sampling method's map holds from one draw to the next, in words, with a button
    that averages as many draws as it would take where it does not. ``settings``: (model digest,
    image, digit, method, params, contrast) of the map."""
    if found is None:
        return
    spec = REGISTRY[e.method]  # its budget: what its cost is timed over, else its first cost
    budget = next(iter(spec.cost.budgets[0]), "") if spec.cost.budgets else ""
    budget = budget or next(p.name for p in spec.params if p.cost)
    text = f"Seed to seed: ρ {shown_rho(found['rho'], found['stable'])} {_source(found)}."
    if found["stable"]:
        st.caption(text + " The map holds from one draw to the next.")
    else:
        k = found["budget_multiple"]  # Spearman-Brown: the mean of k draws of agreement ρ
        draws = e.params.get("draws", 1)
        # this map is already the mean of `draws` draws: k times as many reach the line
        more = min(math.ceil(k * draws) if k else 4 * draws, int(DRAWS.high))
        how = (
            f"raise “{param_label(budget)}” about {times(k)}, or average {more} "
            f"“{param_label('draws')}” (under Parameters): that should bring ρ to about "
            f"{STABLE_RHO}, a forecast from this one map, whose ρ itself moves from run to run"
            if k
            else f"raise “{param_label(budget)}”, or average more “{param_label('draws')}” "
            "(under Parameters)"
        )
        st.warning(f"{text} The map varies between runs. Before reading it, {how}.")
        if more > draws:
            wider = (*settings[:4], {**settings[4], "draws": more}, settings[5])
            checked = needs_second_draw(e.method, {**e.params, "draws": more})
            seconds = f"about {(1 + checked) * more / draws * e.seconds:.0f} s" + (
                ", with its checking draw" if checked else ""
            )
            st.button(f"Average {more} draws ({seconds})", key="more_draws",
                      on_click=_more_draws, args=(f"explain:{e.method}:draws", more, wider),
                      help="Noise shrinks as one over the root of the draws.")  # fmt: skip
