"""Seed-to-seed agreement of sampling methods, from a map's halves or a second draw: known
answers, and the CLI's ``stability``."""

import json

import numpy as np
import pytest

from svhn_xai.cli import run
from svhn_xai.explain import REGISTRY, explain, explain_batch
from svhn_xai.explain.stability import (
    budget_multiple,
    is_sampled,
    needs_second_draw,
    rank_agreement,
    stability,
    stepped_up,
)


def test_rank_agreement_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 8, 8))
    assert rank_agreement(a, a) == pytest.approx(1.0)
    assert rank_agreement(a, -a) == pytest.approx(-1.0)
    assert rank_agreement(a, 2 * a + 1) == pytest.approx(1.0)  # ranks, not values
    assert rank_agreement(a, np.zeros_like(a)) == 0.0  # a flat map ranks nothing
    # channels are summed before ranking: two maps with the same sum agree
    b = a.copy()
    b[0] += 1.0
    b[1] -= 1.0
    assert rank_agreement(a, b) == pytest.approx(1.0)


def test_the_methods_that_draw_at_random_are_those_with_a_seed():
    sampled = {k for k in REGISTRY if is_sampled(k)}
    assert sampled == {
        "gradient_shap", "deep_lift_shap", "shapley_value_sampling", "lime", "kernel_shap", "rise",
    }  # fmt: skip


def test_stability_compares_with_a_second_draw_where_the_map_does_not_split(model, house):
    """Captum's GradientShap draws its points itself: no halves, so a second draw."""
    image, digit = house[0], house[1]
    captums = {"n_samples": 4, "points": "independent", "stdevs": 0.09}
    first = explain(model, image, digit, "gradient_shap", **captums, seed=5)
    assert first.halves is None and needs_second_draw("gradient_shap", first.params)
    got = stability(model, image, first)
    second = explain(model, image, digit, "gradient_shap", **captums, seed=6)
    assert got["rho"] == pytest.approx(rank_agreement(first.attribution, second.attribution))
    assert got["rho"] < 0.99  # 4 noisy points: two draws differ
    assert got["stable"] == (got["rho"] >= 0.9) and "seed 6" in got["how"]
    assert got["budget_multiple"] == budget_multiple(got["rho"])
    assert stability(model, image, explain(model, image, digit, "saliency")) is None


def test_stability_steps_up_the_agreement_of_the_maps_halves(model, house):
    """RISE's halves are the maps of its even and of its odd masks: without centring (the
    plain mean) the map is their mean; the reported ρ is Spearman-Brown's from their own."""
    image, digit = house[0], house[1]
    e = explain(model, image, digit, "rise", n_masks=16, centre=False, seed=5)
    first, second = e.halves
    np.testing.assert_allclose((first + second) / 2, e.attribution, rtol=1e-5, atol=1e-7)
    got = stability(model, image, e)
    half = rank_agreement(first, second)
    assert got["half_rho"] == pytest.approx(half) and half < 0.99  # 8 masks a half differ
    assert got["rho"] == pytest.approx(stepped_up(half))
    assert "split-half" in got["how"] and "seed 5" in got["how"]
    assert not needs_second_draw("rise", e.params)


def test_stepped_up_is_spearman_brown_for_two_halves():
    """Hand-computed: halves agreeing at 0.5 give 2 · 0.5 / 1.5 = 2/3 for the whole; halves that
    agree fully or not at all stay where they are."""
    assert stepped_up(0.5) == pytest.approx(2 / 3)
    assert stepped_up(0.8) == pytest.approx(1.6 / 1.8)
    assert stepped_up(1.0) == 1.0 and stepped_up(0.0) == 0.0 and stepped_up(-0.3) == -0.3
    assert stepped_up(0.5, k=3) == pytest.approx(1.5 / 2.0)


@pytest.mark.parametrize(
    "method, params",
    [
        ("rise", {"n_masks": 8}),
        ("gradient_shap", {"n_samples": 4}),
        ("gradient_shap", {"n_samples": 4, "points": "independent"}),
        ("gradient_shap", {"n_samples": 4, "smooth": "smoothgrad", "smooth_samples": 2}),
        ("gradient_shap", {"n_samples": 1}),
        ("shapley_value_sampling", {"n_samples": 4, "superpixel": 32}),
        ("shapley_value_sampling", {"n_samples": 2, "superpixel": 32}),
        ("shapley_value_sampling", {"n_samples": 2, "superpixel": 32, "orders": "independent"}),
        ("lime", {"n_samples": 16, "superpixel": 32}),
        ("lime", {"n_samples": 16, "superpixel": 32, "subsets": "paired"}),
        ("kernel_shap", {"n_samples": 16, "superpixel": 32, "segments": "grid"}),
        ("kernel_shap", {"n_samples": 16, "superpixel": 32, "coalitions": "independent"}),
        ("deep_lift_shap", {"n_baselines": 2}),
        ("deep_lift_shap", {"n_baselines": 2, "draws": 2}),
        (
            "kernel_shap",
            {"n_samples": 16, "superpixel": 32, "coalitions": "independent", "draws": 2},
        ),
    ],
)
def test_a_map_has_halves_exactly_where_its_method_says_it_splits(model, house, method, params):
    """The registry's ``splits`` (what the app's time estimate reads) and the methods' own
    splitting agree; an even number of draws splits into whole draws."""
    image, digit = house[0], house[1]
    e = explain(model, image, digit, method, seed=3, **params)
    assert (e.halves is not None) == REGISTRY[method].splits(e.params)
    assert needs_second_draw(method, e.params) == (e.halves is None)
    if params.get("draws") == 2 and method == "kernel_shap":
        singles = [
            explain(model, image, digit, method, **{**params, "draws": 1}, seed=s) for s in (3, 4)
        ]
        for half, single in zip(e.halves, singles):
            np.testing.assert_allclose(half, single.attribution, rtol=1e-5, atol=1e-7)
    # in a batch (one at a time or together) no map has halves: they are for a stability
    pair = explain_batch(model, [image, image], [digit, digit], method, seed=3, **params)
    assert all(p.halves is None for p in pair)


def test_explain_json_carries_stability_for_a_sampling_method_only(random_checkpoint, capsys):
    argv = ["explain", "--data", "synthetic", "--index", "0", "--digit", "1", "--json"]
    argv += ["--checkpoint", str(random_checkpoint)]
    assert run([*argv, "--method", "rise", "--param", "n_masks=16", "--param", "seed=3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert -1 <= out["stability"]["rho"] <= 1 and "split-half" in out["stability"]["how"]
    captums = ["--param", "points=independent", "--param", "n_samples=2", "--param", "seed=3"]
    assert run([*argv, "--method", "gradient_shap", *captums]) == 0
    assert "seed 4" in json.loads(capsys.readouterr().out)["stability"]["how"]
    assert run([*argv, "--method", "saliency"]) == 0
    assert "stability" not in json.loads(capsys.readouterr().out)


def test_a_map_of_several_draws_is_the_mean_of_the_single_draws(model, house):
    image, digit = house[0], house[1]
    three = explain(model, image, digit, "rise", n_masks=16, seed=5, draws=3)
    singles = [explain(model, image, digit, "rise", n_masks=16, seed=s) for s in (5, 6, 7)]
    mean = np.mean([e.attribution for e in singles], axis=0)
    np.testing.assert_allclose(three.attribution, mean, rtol=1e-5, atol=1e-7)
    assert three.model_passes == sum(e.model_passes for e in singles)
    assert three.params["seed"] == 5  # the parameters as given, not the last draw's
    # its halves are the mean of each draw's halves: the halves of the mean map
    for k in (0, 1):
        halves = np.mean([e.halves[k] for e in singles], axis=0)
        np.testing.assert_allclose(three.halves[k], halves, rtol=1e-5, atol=1e-7)
    assert "seeds 5-7" in stability(model, image, three)["how"]
    # a map without halves: its second draw takes the next three seeds, no draw in common
    captums = {"n_samples": 2, "points": "independent", "stdevs": 0.09}
    three = explain(model, image, digit, "gradient_shap", **captums, seed=5, draws=3)
    got = stability(model, image, three)
    later = explain(model, image, digit, "gradient_shap", **captums, seed=8, draws=3)
    assert got["rho"] == pytest.approx(rank_agreement(three.attribution, later.attribution))
    assert "seeds 5-7" in got["how"] and "seeds 8-10" in got["how"]


def test_only_sampling_methods_have_draws():
    with_draws = {k for k, spec in REGISTRY.items() if any(p.name == "draws" for p in spec.params)}
    assert with_draws == {k for k in REGISTRY if is_sampled(k)}


def test_the_budget_multiple_is_spearman_browns_for_rho_0_9():
    """Hand-computed: ρ 0.5 needs k = 0.9 · 0.5 / (0.5 · 0.1) = 9 draws; ρ 0.75 needs 3; a
    stable map needs none more; a map that shares nothing with its redraw cannot be sharpened."""
    assert budget_multiple(0.5) == pytest.approx(9.0)
    assert budget_multiple(0.75) == pytest.approx(3.0)
    k = budget_multiple(0.3)
    assert k * 0.3 / (1 + (k - 1) * 0.3) == pytest.approx(0.9)  # the prophecy it inverts
    assert budget_multiple(0.95) == 1.0 and budget_multiple(0.9) == 1.0
    assert budget_multiple(0.0) is None and budget_multiple(-0.2) is None
