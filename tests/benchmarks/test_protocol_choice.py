"""The protocol study's selection rule (benchmarks/protocol_choice.py) on made-up scores."""

import numpy as np
import pytest

from benchmarks.protocol_choice import _means, bootstrap_choice, choose
from svhn_xai.scoring.protocol import Protocol

RULES = [Protocol("topk", 20.0, 3.0), Protocol("value", 0.1, 3.0)]


def _scores(iou_by_rule: list[float], n: int = 2) -> dict:
    return {"iou_1": iou_by_rule, "iou_2": iou_by_rule, "n": n}


def test_the_worst_voting_family_decides_and_added_methods_do_not_vote():
    baselines = {b: _scores([0.3, 0.3]) for b in ("whole_image", "centre_gaussian")}
    baselines["uniform_random"] = _scores([0.1, 0.3])
    results = {
        "real": {
            "n_pairs": 2,
            "scores": {
                **baselines,
                "saliency": _scores([0.5, 0.35]),  # gradient: +0.20 under top-k, +0.05 value
                "occlusion": _scores([0.4, 0.36]),  # perturbation: +0.10 / +0.06
                "grad_cam": _scores([0.0, 0.3]),  # added since: would make top-k lose
                "lime": _scores([0.0, 0.0], n=1),  # not scored on every pair: left out
            },
        }
    }
    index, rows = choose(results, RULES)
    assert index == 0, "top-k's worst voting margin (+0.10) beats value's (+0.05)"
    top = rows[0]
    assert round(top["worst_margin"], 6) == 0.1
    assert set(top["margins"]) == {
        f"real/{m}/{f}" for m in ("iou_1", "iou_2") for f in ("gradient", "perturbation")
    }
    # an added method alone in its family is named
    assert round(top["added_margins"]["real/iou_1/grad_cam"], 6) == -0.3


def _pairs(rows: list[list[float]]) -> dict:
    """Per-pair scores (pairs x rules), the same for IoU_1 and IoU_2."""
    a = np.asarray(rows, dtype=float)
    return {"iou_1": a, "iou_2": a.copy()}


def test_the_choice_is_bootstrapped_over_photos():
    stems = ["0_1", "0_2", "1_4", "2_7", "3_3", "4_9"]  # photo 0 holds two pairs
    flat = _pairs([[0.3, 0.3]] * 6)
    clear = {  # rule 0 beats rule 1 by 0.2 on every pair: chosen in every resample
        "saliency": _pairs([[0.6, 0.4]] * 6),
        **{b: flat for b in ("whole_image", "centre_gaussian", "uniform_random")},
    }
    results = {"real": {"n_pairs": 6, "pairs": stems, "per_pair": clear}}
    results["real"]["scores"] = _means(clear, np.ones((1, 6)))[0]
    index, _ = choose(results, RULES)
    out = bootstrap_choice(results, RULES, index, resamples=200)
    assert index == 0 and out["chosen_again"] == 1.0
    assert out["lead_ci"][0] == pytest.approx(0.2) and out["lead_ci"][1] == pytest.approx(0.2)
    # the lead depends on which photos are drawn: the interval is not a point
    mixed = {**clear, "saliency": _pairs([[0.9, 0.4], [0.9, 0.4], [0.4, 0.5], [0.4, 0.5],
                                          [0.4, 0.5], [0.4, 0.5]])}  # fmt: skip
    results["real"].update(per_pair=mixed, scores=_means(mixed, np.ones((1, 6)))[0])
    index, _ = choose(results, RULES)
    out = bootstrap_choice(results, RULES, index, resamples=400)
    assert index == 0 and 0.3 < out["chosen_again"] < 0.95
    assert out["lead_ci"][0] < 0 < out["lead_ci"][1]


def test_means_leave_out_the_pairs_a_map_was_not_finite_on():
    per_pair = {"lime": _pairs([[0.2, 0.4], [np.nan, np.nan], [0.4, 0.6]])}
    row = _means(per_pair, np.array([[1.0, 1.0, 1.0], [2.0, 5.0, 0.0]]))
    assert row[0]["lime"]["n"] == 2
    assert row[0]["lime"]["iou_1"] == row[0]["lime"]["iou_2"] == pytest.approx([0.3, 0.5])
    assert row[1]["lime"]["iou_1"] == pytest.approx([0.2, 0.4])  # the third pair not drawn


def test_a_winner_replaces_the_default_only_when_its_lead_over_it_is_sure():
    stems = ["0_1", "1_2", "2_3", "3_4", "4_5", "5_6"]
    flat = {
        b: _pairs([[0.3, 0.3]] * 6) for b in ("whole_image", "centre_gaussian", "uniform_random")
    }
    results = {"real": {"n_pairs": 6, "pairs": stems}}
    # RULES[0] is the default rule; RULES[1] wins on every photo by 0.1: adopted
    sure = {"saliency": _pairs([[0.4, 0.5]] * 6), **flat}
    results["real"].update(per_pair=sure, scores=_means(sure, np.ones((1, 6)))[0])
    index, _ = choose(results, RULES)
    out = bootstrap_choice(results, RULES, index, resamples=200, default=RULES[0])
    assert index == 1 and out["adopt"]
    assert out["lead_over_the_default_ci"] == pytest.approx([0.1, 0.1])
    # it wins on the mean, but photo by photo the lead changes sign: the default stays
    unsure = {"saliency": _pairs([[0.4, 0.9], [0.4, 0.2], [0.4, 0.2], [0.4, 0.9],
                                  [0.4, 0.2], [0.4, 0.3]]), **flat}  # fmt: skip
    results["real"].update(per_pair=unsure, scores=_means(unsure, np.ones((1, 6)))[0])
    index, _ = choose(results, RULES)
    out = bootstrap_choice(results, RULES, index, resamples=400, default=RULES[0])
    assert index == 1 and not out["adopt"]
    assert out["lead_over_the_default_ci"][0] < 0 < out["lead_over_the_default_ci"][1]
    # the default winning is never an adoption
    out = bootstrap_choice(results, RULES, 0, resamples=50, default=RULES[0])
    assert not out["adopt"]
