import json

import numpy as np
import pytest

from svhn_xai.data.synthetic import SyntheticHouseNumbers
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import explain
from svhn_xai.scoring.calibration import (
    Calibration,
    calibrate,
    calibration_grid,
    calibration_path,
    load_calibration,
)
from svhn_xai.scoring.localisation import localise
from svhn_xai.scoring.protocol import Protocol
from svhn_xai.scoring.registry import score
from tests.models import random_model


@pytest.fixture(scope="module")
def model():
    return random_model(1)


@pytest.fixture(scope="module")
def items():
    source = SyntheticHouseNumbers(3, seed=5)
    return [to_model_input(source[i], 64).item for i in range(3)]


def test_calibration_picks_each_maps_best_value_on_its_own_images(model, items):
    c = calibrate(model, items[:2], ["saliency"], Protocol("topk", 20.0, 1.0), batch_size=2)
    assert set(c["values"]) == {"saliency", "whole_image", "centre_gaussian", "uniform_random"}
    for name, value in c["values"].items():
        means = c["mean_iou_1"][name]
        assert means[c["grid"].index(value)] == max(means)
    # the grid's means are IoU_1 as the scoring computes it, at each grid value
    item, digit = items[0], sorted(set(items[0].labels))[0]
    with pytest.raises(ValueError, match="no parameter"):
        calibration_grid("otsu")
    one = calibrate(model, [item], ["saliency"], Protocol("topk", 20.0, 1.0), digits=[digit])
    e = explain(model, item.image, digit, "saliency")
    for value, mean in zip(one["grid"], one["mean_iou_1"]["saliency"]):
        r = localise(e, item.boxes_of(digit), Protocol("topk", value, 1.0))
        assert mean == pytest.approx(r["iou_1"], abs=1e-12)


def test_calibrated_thresholds_reach_the_scoring_of_method_and_baselines(model, items):
    item, digit = items[0], sorted(set(items[0].labels))[0]
    e = explain(model, item.image, digit, "saliency")
    values = {"saliency": 5.0, "whole_image": 50.0, "centre_gaussian": 30.0, "uniform_random": 1}
    calibration = Calibration(Protocol("topk", 20.0, 2.0), values, "ab" * 32)
    r = localise(e, item.boxes_of(digit), calibration=calibration)
    assert r["threshold_source"] == "calibrated"
    assert r["protocol"] == {"mode": "topk", "value": 5.0, "sigma": 2.0}
    assert r["active_fraction"] == pytest.approx(0.05, abs=1 / 4096)
    for name, b in r["baselines"].items():
        assert b["protocol"]["value"] == values[name]
    assert r["baselines"]["whole_image"]["active_fraction"] == pytest.approx(0.5)
    fixed = localise(e, item.boxes_of(digit), Protocol("topk", 5.0, 2.0))
    assert fixed["threshold_source"] == "fixed" and fixed["iou_1"] == r["iou_1"]
    assert fixed["baselines"]["whole_image"]["active_fraction"] == pytest.approx(0.05, abs=1e-3)


def test_the_file_is_tied_to_its_checkpoint(tmp_path):
    ckpt = tmp_path / "mine.pt"
    ckpt.write_bytes(b"x")
    assert calibration_path(ckpt) == tmp_path / "mine.calibration.json"
    calibration, why = load_calibration(ckpt, "cd" * 32)
    assert calibration is None and "no calibration file" in why
    made = Calibration(Protocol("topk", 20.0, 3.0), {"saliency": 15.0}, "ab" * 32, {"n_pairs": 4})
    calibration_path(ckpt).write_text(json.dumps(made.to_dict()))
    calibration, why = load_calibration(ckpt, "cd" * 32)
    assert calibration is None and "another checkpoint" in why
    calibration, why = load_calibration(ckpt, "ab" * 32)
    assert calibration == made and why == ""
    fallback = Protocol("value", 0.5, 0.0)
    assert calibration.rule("saliency", fallback) == Protocol("topk", 15.0, 3.0)
    assert calibration.rule("lime", fallback) == fallback  # a method the file does not know
    calibration_path(ckpt).write_text("{not json")
    calibration, why = load_calibration(ckpt, "ab" * 32)
    assert calibration is None and "cannot be read" in why


def test_iou_over_the_grid_is_the_scoring_iou(model, items):
    from svhn_xai.scoring.calibration import _iou_1_over_grid

    rng = np.random.default_rng(0)
    relevance = rng.random((64, 64))
    boxes = np.array([[10, 12, 30, 50]])
    rule = Protocol("value", 0.5, 1.5)
    grid = calibration_grid("value")
    ious = _iou_1_over_grid(relevance, boxes, rule, grid)
    from svhn_xai.scoring.heatmap import normalise, smooth

    heat = normalise(smooth(relevance, 1.5))
    for v, iou in zip(grid, ious):
        assert iou == pytest.approx(score(heat, boxes, "value", float(v)).iou_1)
