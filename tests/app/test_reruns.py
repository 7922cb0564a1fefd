"""The second run: every page that explains survives a rerun (threshold move, method switch).

A result served from the cache must replay without touching a Streamlit element that belongs to
an earlier run (the CacheReplayClosureError of perturbation methods)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from svhn_xai.explain import REGISTRY
from svhn_xai.scoring.protocol import THRESHOLD_MODES

APP = Path(__file__).resolve().parents[2] / "app"
# the real methods at small budgets (set as widget state), so 16 round trips stay quick
SMALL_BUDGETS = {
    "integrated_gradients": {"n_steps": 4},
    "gradient_shap": {"n_samples": 4},
    "occlusion": {"stride": 8},
    "feature_permutation": {"batch_size": 2},
    "shapley_value_sampling": {"superpixel": 16, "n_samples": 4},
    "lime": {"n_samples": 32},
    "kernel_shap": {"n_samples": 32},
    "rise": {"n_masks": 128},
}


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def move_threshold(at: AppTest, prefix: str) -> None:
    """Move the threshold parameter of the current mode (or switch to a mode that has one: from
    the default, each method at its calibrated value, to a slider)."""
    mode = THRESHOLD_MODES.get(at.radio(key=f"{prefix}_mode").value, THRESHOLD_MODES["otsu"])
    if mode.param is None:
        mode = next(m for m in THRESHOLD_MODES.values() if m.param is not None)
        at.radio(key=f"{prefix}_mode").set_value(mode.key).run()
        _no_exception(at)
    slider = at.slider(key=f"{prefix}_{mode.key}")
    target = mode.low + (mode.high - mode.low) * 0.3
    if abs(slider.value - target) < mode.step:
        target = mode.low + (mode.high - mode.low) * 0.6
    slider.set_value(round(target / mode.step) * mode.step).run()
    _no_exception(at)


@pytest.mark.slow
@pytest.mark.parametrize("method", list(REGISTRY))
def test_explain_survives_threshold_move_and_method_round_trip(method):
    at = AppTest.from_file(str(APP / "pages" / "1_Explain.py"), default_timeout=300)
    for name, value in SMALL_BUDGETS.get(method, {}).items():
        at.session_state[f"kept:explain:{method}:{name}"] = value  # as a link would set it
    at.run()
    _no_exception(at)
    at.selectbox(key="method").set_value(method).run()
    _no_exception(at)
    move_threshold(at, "threshold")
    other = "saliency" if method != "saliency" else "lrp"
    at.selectbox(key="method").set_value(other).run()
    _no_exception(at)
    at.selectbox(key="method").set_value(method).run()
    _no_exception(at)
    move_threshold(at, "threshold")
    assert any(m.label.startswith("IoU₁") for m in at.metric)


@pytest.mark.slow
def test_compare_survives_a_threshold_move():
    at = AppTest.from_file(str(APP / "pages" / "2_Compare.py"), default_timeout=300).run()
    _no_exception(at)
    assert len(at.dataframe), "Compare showed no table at its defaults"
    move_threshold(at, "compare")
    assert len(at.dataframe)
