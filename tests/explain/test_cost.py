from types import SimpleNamespace

import pytest

from svhn_xai.explain import REGISTRY, cost
from svhn_xai.explain.cost import calibrated, estimated_passes, estimated_seconds, fit_line
from tests.models import random_model


def test_fit_line_through_two_points():
    assert fit_line([(30, 2.0), (10, 1.0)]) == pytest.approx((0.5, 0.05))
    assert fit_line([(10, 1.0), (10, 1.2)]) == pytest.approx((0.0, 0.12))  # no spread: all b
    assert fit_line([(10, 1.0), (30, 0.9)]) == pytest.approx((0.0, 1.0 / 30))  # noise


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_estimate_counts_what_is_not_a_model_pass(monkeypatch, method):
    """A method that spends 0.2 s up front and 10 ms per sample beside its passes (a surrogate
    fit, Python bookkeeping): the calibrated estimate at 5,000 samples is 50.2 s, where passes
    x forward cost would have said a fraction of it."""
    clock = [0.0]
    calls = []

    def fake_explain(model, image, digit, method, **params):
        calls.append(params)
        clock[0] += 0.2 + 0.01 * params["n_samples"]
        return SimpleNamespace(model_passes=estimated_passes(method, params))

    monkeypatch.setattr(cost, "explain", fake_explain)
    monkeypatch.setattr(cost.time, "perf_counter", lambda: clock[0])
    model = random_model(0)
    assert estimated_seconds(model, method, {"n_samples": 5000}) == pytest.approx(50.2)
    assert [c["n_samples"] for c in calls] == [32, 128]  # the two budgets
    assert estimated_seconds(model, method, {"n_samples": 256}) == pytest.approx(2.76)
    assert len(calls) == 2  # calibrated once per model and settings
    estimated_seconds(model, method, {"n_samples": 256, "superpixel": 4})
    assert len(calls) == 4  # other superpixels: another surrogate, another calibration


BUDGETED = [k for k, spec in REGISTRY.items() if spec.cost.budgets is not None]


def test_every_budgeted_method_is_calibrated_at_two_pass_counts():
    for method in BUDGETED:
        small, large = REGISTRY[method].cost.budgets
        assert estimated_passes(method, small) < estimated_passes(method, large), method


@pytest.mark.slow
@pytest.mark.parametrize("method", BUDGETED)
def test_calibration_runs_at_every_methods_defaults(method):
    a, b = calibrated(random_model(0), method, {})
    assert a >= 0 and b > 0
