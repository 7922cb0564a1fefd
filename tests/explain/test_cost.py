from types import SimpleNamespace

import pytest
import torch

from svhn_xai.explain import REGISTRY, cost
from svhn_xai.explain.cost import calibrated, estimated_passes, estimated_seconds, fit_line
from tests.models import random_model


def test_fit_line_through_two_points_and_by_least_squares_through_more():
    assert fit_line([(30, 2.0), (10, 1.0)]) == pytest.approx((0.5, 0.05))
    assert fit_line([(10, 1.0), (10, 1.2)]) == pytest.approx((0.0, 0.12))  # no spread: all b
    assert fit_line([(10, 1.0), (30, 0.9)]) == pytest.approx((0.0, 1.0 / 30))  # noise
    assert fit_line([(10, 1.0), (20, 1.5), (30, 2.0), (40, 2.5)]) == pytest.approx((0.5, 0.05))
    # a line that would cross zero above no passes goes through the origin instead
    assert fit_line([(10, 0.5), (20, 2.5)]) == pytest.approx((0.0, 2.5 * 20 / 500 + 0.5 * 10 / 500))


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_estimate_counts_what_is_not_a_model_pass(monkeypatch, method):
    """A method that spends 0.2 s up front and 10 ms per pass beside the passes' own cost (a
    surrogate fit, Python bookkeeping): the calibrated estimate at 5,000 samples is 0.2 s plus
    10 ms for each of its passes, where passes x forward cost would have said a fraction of it.
    (KernelShap plays each distinct coalition once, so its passes are fewer than its samples.)"""
    clock = [0.0]
    calls = []

    def fake_explain(model, image, digit, method, **params):
        calls.append(params)
        passes = estimated_passes(method, params)
        clock[0] += 0.2 + 0.01 * passes
        return SimpleNamespace(model_passes=passes)

    monkeypatch.setattr(cost, "explain", fake_explain)
    monkeypatch.setattr(cost.time, "perf_counter", lambda: clock[0])
    model = random_model(0)

    def expected(n_samples: int) -> float:
        return 0.2 + 0.01 * estimated_passes(method, {"n_samples": n_samples})

    assert estimated_seconds(model, method, {"n_samples": 5000}) == pytest.approx(expected(5000))
    # a warm-up, then each of the two budgets twice (the faster kept)
    assert [c["n_samples"] for c in calls] == [32, 32, 32, 128, 128]
    assert estimated_seconds(model, method, {"n_samples": 256}) == pytest.approx(expected(256))
    assert len(calls) == 5  # calibrated once per model and settings
    estimated_seconds(model, method, {"n_samples": 256, "superpixel": 4})
    assert len(calls) == 10  # other superpixels: another surrogate, another calibration


def _clock(monkeypatch, seconds_of):
    """Replace explain and the clock: a call with ``params`` takes ``seconds_of(call number,
    params)``; returns the list of calls' params."""
    clock, calls = [0.0], []

    def fake_explain(model, image, digit, method, **params):
        clock[0] += seconds_of(len(calls), params)
        calls.append(params)
        return SimpleNamespace(model_passes=estimated_passes(method, params))

    monkeypatch.setattr(cost, "explain", fake_explain)
    monkeypatch.setattr(cost.time, "perf_counter", lambda: clock[0])
    return calls


def test_a_first_calls_one_off_cost_is_not_estimated(monkeypatch):
    """Saliency whose first call pays 2 s once (a lazy import), whose second is interrupted
    (50 ms) and which takes 10 ms after: 10 ms."""
    calls = _clock(monkeypatch, lambda n, p: {0: 2.01, 1: 0.05}.get(n, 0.01))
    model = random_model(0)
    assert estimated_seconds(model, "saliency", {}) == pytest.approx(0.01)
    assert len(calls) == 3  # a warm-up and two timed calls


def test_smoothing_adds_its_copies_at_the_batched_time_of_an_image(monkeypatch):
    _clock(monkeypatch, lambda n, p: 0.01)
    model = random_model(0)
    monkeypatch.setitem(cost._PER_IMAGE, model, {False: 0.001, True: 0.003})
    # 64 noisy copies of a one-pass gradient method, and the clean pass: 64 more passes, each a
    # forward and a backward pass (3 ms, as measured in a batch) beside the 10 ms plain call
    smooth = {"smooth": "smoothgrad", "smooth_samples": 64}
    assert estimated_passes("saliency", smooth) - estimated_passes("saliency", {}) == 64
    assert estimated_seconds(model, "saliency", smooth) == pytest.approx(0.01 + 64 * 0.003)


def test_a_recorded_explanation_is_the_next_estimate_and_refits_the_line(monkeypatch):
    """LIME timed at 0.2 s + 10 ms a sample; the user's run of 1,000 samples then took 30 s (a
    busy machine): those settings now estimate 30 s, and the line through all three points
    moves the estimate of 2,000 samples up from 20.2 s."""
    _clock(monkeypatch, lambda n, p: 0.2 + 0.01 * p["n_samples"])
    model = random_model(0)
    before = estimated_seconds(model, "lime", {"n_samples": 2000})
    assert before == pytest.approx(20.2)
    assert estimated_seconds(model, "lime", {"n_samples": 1000}) == pytest.approx(10.2)
    passes = estimated_passes("lime", {"n_samples": 1000})
    ran = SimpleNamespace(model_passes=passes, seconds=30.0)
    cost.record(model, "lime", {"n_samples": 1000}, ran)
    assert estimated_seconds(model, "lime", {"n_samples": 1000}) == 30.0
    assert estimated_seconds(model, "lime", {"n_samples": 2000}) > before + 10


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


def test_an_occlusion_stride_wider_than_its_window_is_refused_before_any_timing():
    from svhn_xai.errors import ParameterError

    with pytest.raises(ParameterError, match="must not exceed window"):
        estimated_passes("occlusion", {"window": 2, "stride": 4})
    assert estimated_passes("occlusion", {"window": 2, "stride": 2}) == 32**2 + 1


@pytest.mark.parametrize("backward", [False, True])
def test_the_time_per_image_is_the_faster_of_two_timed_batches_after_a_warm_up(
    monkeypatch, backward
):
    """On a clock that reads 0, 0.5 | 0.5, 2.5 | 2.5, 3.5 (runs of 0.5 s, 2 s and 1 s), the
    measure is 1 s / 32 images: the first run warms up and is never counted, however fast;
    the backward pass is taken only where it is asked for."""
    import itertools

    readings = itertools.chain([0.0, 0.5, 0.5, 2.5, 2.5, 3.5], itertools.repeat(3.5))
    monkeypatch.setattr(cost.time, "perf_counter", lambda: next(readings))
    grads = []
    real_grad = torch.autograd.grad
    monkeypatch.setattr(
        torch.autograd, "grad", lambda *a, **k: grads.append(1) or real_grad(*a, **k)
    )
    assert cost.seconds_per_image(random_model(1), backward=backward) == pytest.approx(1 / 32)
    assert len(grads) == (3 if backward else 0)


def test_smoothing_a_budgeted_method_reuses_its_line_and_multiplies_its_passes(monkeypatch):
    """Integrated Gradients timed at 0.1 s + 1 ms a pass: with 8 or 64 noisy copies of its 16
    passes (and a clean one) no further timing is needed, and the line gives the time."""
    calls = _clock(
        monkeypatch, lambda n, p: 0.1 + 0.001 * estimated_passes("integrated_gradients", p)
    )
    model = random_model(0)
    estimated_seconds(model, "integrated_gradients", {})
    timed = len(calls)
    for copies in (8, 64):
        smooth = {"smooth": "smoothgrad", "smooth_samples": copies}
        passes = estimated_passes("integrated_gradients", smooth)
        assert passes == 16 * copies + 1
        got = estimated_seconds(model, "integrated_gradients", smooth)
        assert got == pytest.approx(0.1 + 0.001 * passes)
    assert len(calls) == timed
