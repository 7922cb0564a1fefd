"""Class sensitivity on hand-made maps with known answers."""

import json

import numpy as np
import pytest

from svhn_xai.data.item import HouseNumber
from svhn_xai.scoring.class_sensitivity import box_density, class_sensitivity, pair_outcomes
from tests.models import random_model

# a "23" on a 64 x 64 map: the 2 on the left, the 3 on the right (a narrower box)
BOXES = {2: np.array([[8.0, 16, 28, 48]]), 3: np.array([[36.0, 16, 50, 48]])}


def blob(box: np.ndarray, value: float = 1.0) -> np.ndarray:
    heat = np.zeros((64, 64))
    x0, y0, x1, y1 = box.astype(int)[0]
    heat[y0:y1, x0:x1] = value
    return heat


def test_maps_on_their_own_digits_score_one():
    maps = {2: blob(BOXES[2]), 3: blob(BOXES[3])}
    outcomes = pair_outcomes(maps, BOXES)
    assert [(o["digit"], o["other"], o["win"]) for o in outcomes] == [(2, 3, 1.0), (3, 2, 1.0)]
    assert class_sensitivity(outcomes)["score"] == 1.0


def test_maps_on_the_wrong_digits_score_zero():
    maps = {2: blob(BOXES[3]), 3: blob(BOXES[2])}
    assert class_sensitivity(pair_outcomes(maps, BOXES))["score"] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_same_map_for_every_digit_scores_chance(seed):
    same = np.random.default_rng(seed).random((64, 64))
    result = class_sensitivity(pair_outcomes({2: same, 3: same}, BOXES))
    assert result["score"] == 0.5 and result["pairs"] == 2


def test_an_empty_map_ties():
    outcomes = pair_outcomes({2: np.zeros((64, 64)), 3: blob(BOXES[3])}, BOXES)
    assert [o["win"] for o in outcomes] == [0.5, 1.0]


def test_density_is_per_pixel_not_total():
    """More heat in all on the wide 2's box, more per pixel on the narrow 3's: the 3 wins."""
    heat = blob(BOXES[2], 0.8) + blob(BOXES[3], 1.0)
    assert box_density(heat, BOXES[2]) == pytest.approx(0.8)
    assert box_density(heat, BOXES[3]) == pytest.approx(1.0)
    # total heat 640 px x 0.8 = 512 on the 2's box, 448 px x 1 = 448 on the 3's
    assert pair_outcomes({2: heat}, BOXES) == []  # the 3 has no map: no pair
    assert pair_outcomes({2: heat, 3: heat}, BOXES)[0]["win"] == 0.0


def test_absent_digits_and_digits_without_maps_make_no_pairs():
    boxes = {**BOXES, 5: np.zeros((0, 4))}
    maps = {2: blob(BOXES[2]), 3: blob(BOXES[3]), 5: np.ones((64, 64))}
    assert {(o["digit"], o["other"]) for o in pair_outcomes(maps, boxes)} == {(2, 3), (3, 2)}
    assert class_sensitivity([])["score"] is None


def test_evaluation_counts_photos_with_two_different_digits_from_its_own_maps():
    from svhn_xai.evaluation.run import EvaluationOptions, run_evaluation
    from svhn_xai.explain import explain

    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    two = HouseNumber(image, (2, 3), np.concatenate([BOXES[2], BOXES[3]]), "23")
    repeated = HouseNumber(image, (1, 1), np.concatenate([BOXES[2], BOXES[3]]), "11")
    model = random_model(0)
    summary = run_evaluation(model, [two, repeated, two], EvaluationOptions(["saliency"], steps=4))
    result = summary["class_sensitivity"]
    assert result["photos"] == 2
    assert result["methods"]["saliency"]["pairs"] == 4
    # the same answer as scoring the photo's two maps directly, counted twice
    maps = {d: explain(model, image, d, "saliency").heatmap() for d in (2, 3)}
    direct = class_sensitivity(pair_outcomes(maps, BOXES))["score"]
    assert result["methods"]["saliency"]["score"] == pytest.approx(direct)
    # maps that ignore the digit sit at chance, by the same computation
    assert result["baselines"]["whole_image"]["score"] == 0.5
    assert result["baselines"]["centre_gaussian"]["score"] == 0.5
    assert result["baselines"]["uniform_random"]["pairs"] == 4


@pytest.mark.slow
def test_evaluate_command_reports_class_sensitivity(tmp_path, capsys):
    from svhn_xai.cli import run
    from tests.models import write_checkpoint

    ckpt = write_checkpoint(tmp_path / "m.pt", random_model(2))
    out = tmp_path / "ev.json"
    code = run(["evaluate", "--limit", "3", "--methods", "saliency,input_x_gradient",
                "--checkpoint", str(ckpt), "--json", str(out), "--quiet",
                "--faithfulness", "none"])  # fmt: skip
    assert code == 0
    cs = json.loads(out.read_text())["class_sensitivity"]
    assert set(cs["methods"]) == {"saliency", "input_x_gradient"}
    assert cs["photos"] >= 1, "the synthetic test split's first photos hold several digits"
    for r in cs["methods"].values():
        assert r["pairs"] >= 2 and 0 <= r["score"] <= 1
    assert "class sensitivity over" in capsys.readouterr().out
