"""Seed-to-seed agreement of sampling methods: known answers, and the CLI's ``stability``."""

import json

import numpy as np
import pytest

from svhn_xai.cli import run
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain.stability import budget_multiple, is_sampled, rank_agreement, stability


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


def test_stability_compares_with_a_second_draw_at_the_next_seed(model, house):
    image, digit = house[0], house[1]
    first = explain(model, image, digit, "rise", n_masks=16, seed=5)
    got = stability(model, image, first)
    second = explain(model, image, digit, "rise", n_masks=16, seed=6)
    assert got["rho"] == pytest.approx(rank_agreement(first.attribution, second.attribution))
    assert got["rho"] < 0.99  # 16 masks: two draws differ
    assert got["stable"] == (got["rho"] >= 0.9) and "seed 6" in got["how"]
    assert got["budget_multiple"] == budget_multiple(got["rho"])
    assert stability(model, image, explain(model, image, digit, "saliency")) is None


def test_explain_json_carries_stability_for_a_sampling_method_only(random_checkpoint, capsys):
    argv = ["explain", "--data", "synthetic", "--index", "0", "--digit", "1", "--json"]
    argv += ["--checkpoint", str(random_checkpoint)]
    assert run([*argv, "--method", "rise", "--param", "n_masks=16", "--param", "seed=3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert -1 <= out["stability"]["rho"] <= 1 and "seed 4" in out["stability"]["how"]
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
    # its second draw takes the next three seeds: no draw in common
    got = stability(model, image, three)
    later = explain(model, image, digit, "rise", n_masks=16, seed=8, draws=3)
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
