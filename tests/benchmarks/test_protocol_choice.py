"""The protocol study's selection rule (benchmarks/protocol_choice.py) on made-up scores."""

from benchmarks.protocol_choice import choose
from svhn_xai.protocol import Protocol

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
