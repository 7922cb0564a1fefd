from pathlib import Path

import numpy as np
import pytest

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import Explanation, explain
from svhn_xai.model.checkpoint import load_model
from svhn_xai.scoring.localisation import localise, localise_with_mask, strongest_baselines
from svhn_xai.scoring.metrics import BASELINES


def _explanation(attribution: np.ndarray) -> Explanation:
    return Explanation(
        method="saliency",
        digit=3,
        attribution=attribution.astype(np.float32),
        relevance=attribution.sum(0),
        probability=0.9,
        logit=2.2,
        params={},
        seconds=0.0,
        model_passes=1,
        reduction="positive",
    )


def test_random_baseline_points_at_chance_not_at_one_fixed_pixel():
    """The uniform-random map's pointing game is the box's share of the image, as chance should
    be. Every box here covers the same pixels, the left half (share 0.5; the right edges differ
    by less than half a pixel): one fixed noise map would score exactly 0 or 1 on all of them."""
    e = _explanation(np.random.default_rng(0).random((3, 64, 64)))
    hits = []
    for right in np.random.default_rng(1).uniform(32.0, 32.4, size=400):
        box = np.array([[0.0, 0.0, right, 64.0]])
        hits.append(localise(e, box)["baselines"]["uniform_random"]["pointing_game"])
    assert abs(np.mean(hits) - 0.5) < 0.1  # 4 standard errors of 400 draws


def test_one_photos_arrows_never_weigh_the_random_maps_lucky_draw():
    """On one photo the random map's peak hits a large digit by luck: the bar a method must
    clear there is the strongest map that does not draw, here the centre one."""
    baselines = {
        "whole_image": {"pointing_game": 0.0, "pxap": 0.30},
        "centre_gaussian": {"pointing_game": 0.0, "pxap": 0.40},
        "uniform_random": {"pointing_game": 1.0, "pxap": 0.45},
    }
    versus = strongest_baselines({"pointing_game": 0.0, "pxap": 0.50}, baselines)
    assert versus["pointing_game"] == {"baseline": "whole_image", "value": 0.0, "difference": 0.0}
    assert versus["pxap"]["baseline"] == "centre_gaussian"
    assert versus["pxap"]["difference"] == pytest.approx(0.10)


def test_the_same_boxes_get_the_same_baselines():
    e = _explanation(np.ones((3, 64, 64)))
    box = np.array([[10.0, 5.0, 30.0, 50.0]])
    assert localise(e, box)["baselines"] == localise(e, box.copy())["baselines"]


BOX = np.array([[16.0, 16.0, 48.0, 48.0]])


def test_non_finite_map_is_flagged_never_scored_as_zeros():
    attribution = np.ones((3, 64, 64))
    attribution[0, 5, 5] = np.nan
    e = _explanation(attribution)
    e.finite = False
    r = localise(e, BOX)
    assert r["scored"] is False and r["finite"] is False
    assert "iou_1" not in r and "baselines" not in r


def test_relevance_mass_does_not_depend_on_clipping_or_the_rule():
    rng = np.random.default_rng(3)
    e = _explanation(rng.normal(size=(3, 64, 64)))
    masses = {
        localise(e, BOX, mode, value, reduction="sum", clip_percentile=clip)["relevance_mass"]
        for mode, value in (("value", 0.5), ("topk", 5.0))
        for clip in (100.0, 99.0, 80.0)
    }
    assert len(masses) == 1
    relevance = e.attribution.sum(0)
    positive = np.clip(relevance, 0, None)
    assert masses.pop() == pytest.approx(positive[16:48, 16:48].sum() / positive.sum())


def test_signed_sum_marks_positive_evidence_not_most_of_the_image():
    """``--reduction sum`` on an LRP-like map: 1 % of the pixels carry strong positive
    relevance, 40 % weak negative, the rest none. Active fraction at 0.5: the 1 %."""
    relevance = np.zeros((64, 64))
    relevance[:26, :] = -0.2
    relevance[40:44, 20:30] = 1.0
    e = _explanation(np.stack([relevance / 3] * 3))
    r = localise(e, BOX, "value", 0.5, reduction="sum", sigma=0.0)
    assert r["active_fraction"] == pytest.approx(40 / 4096)


def test_protocol_object_string_mode_and_overrides_agree():
    from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL, THRESHOLD_MODES, Protocol

    e = _explanation(np.random.default_rng(4).random((3, 64, 64)))
    by_object = localise(e, BOX, Protocol("topk", 10.0, 2.0))
    by_name = localise(e, BOX, "topk", 10.0, sigma=2.0)
    assert by_object["iou_1"] == by_name["iou_1"] and by_object["protocol"] == {
        "mode": "topk",
        "value": 10.0,
        "sigma": 2.0,
    }
    # a mode without a value takes that mode's own default, not another mode's value
    other = "value" if DEFAULT_PROTOCOL.mode != "value" else "topk"
    assert localise(e, BOX, other)["protocol"]["value"] == THRESHOLD_MODES[other].default
    with pytest.raises(ValueError, match="must be in"):
        localise(e, BOX, "value", 7.0)
    with pytest.raises(ValueError, match="sigma"):
        localise(e, BOX, "value", 0.5, sigma=-1.0)


def test_baselines_get_every_column_the_method_gets():
    e = _explanation(np.random.default_rng(5).random((3, 64, 64)))
    r = localise(e, BOX, curve=True)
    for b in r["baselines"].values():
        assert set(b) == {k for k in r if k in b} and "curve" in b
        assert {"iou_1", "rank_accuracy", "pointing_game_tolerant", "relevance_mass"} <= set(b)


def test_maps_scored_together_score_as_each_does_alone():
    from svhn_xai.scoring.localisation import baseline_maps, score_map, score_maps
    from svhn_xai.scoring.protocol import Protocol

    rng = np.random.default_rng(3)
    boxes = np.array([[8.0, 10.0, 20.0, 40.0], [30.0, 12.0, 44.0, 41.0]])
    maps = [
        rng.normal(size=(48, 48)),
        np.zeros((48, 48)),
        np.where(rng.random((48, 48)) < 0.03, 1.0, 0.0),
        *baseline_maps(boxes, (48, 48)).values(),
    ]
    rules = [
        Protocol("topk", 20.0, 3.0),
        Protocol("value", 0.5, 0.0),
        Protocol("truth_area", 0.0, 1.5),
        Protocol("topk", 20.0, 3.0),
        Protocol("otsu", 0.0, 3.0),
        Protocol("value", 0.3, 0.0),
    ]
    together = score_maps(maps, boxes, rules, curve=True)
    assert together == [score_map(m, boxes, r, curve=True) for m, r in zip(maps, rules)]


# what a localise result says about the explanation and the run, not how its map scores
NOT_SCORES = {"digit", "probability", "logit", "seconds", "model_passes", "clip_percentile"}


def test_every_score_of_a_method_is_a_score_of_every_baseline():
    """A column the method reports that a baseline lacks could never be compared with chance:
    on a real photo and the shipped model, every numeric score of saliency's map (and every
    IoU curve) is in each baseline's row too."""
    model, card = load_model()
    source = open_source("svhn", "train", Path(__file__).resolve().parents[1] / "fixtures" / "svhn")
    item = to_model_input(source[0], model.input_size, card["config"]["margin"]).item
    digit = item.labels[0]
    r = localise(explain(model, item.image, digit, "saliency"), item.boxes_of(digit), curve=True)
    scores = {
        k
        for k, v in r.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in NOT_SCORES
    }
    assert {"iou_1", "iou_2", "pointing_game", "relevance_mass", "rank_accuracy"} <= scores
    assert set(r["baselines"]) == set(BASELINES)
    for name, baseline in r["baselines"].items():
        assert scores <= set(baseline), (name, scores - set(baseline))
        assert set(r["curve"]) <= set(baseline["curve"]), name


def test_the_clip_percentile_reaches_the_baselines_too():
    """Every column a method gets, the baselines get by the same computation: clipping the
    method's map at a percentile clips the baselines' maps at it as well."""
    from svhn_xai.scoring.localisation import baseline_maps, score_map
    from svhn_xai.scoring.protocol import Protocol

    e = _explanation(np.random.default_rng(0).random((3, 32, 32)))
    boxes = np.array([[8.0, 4.0, 20.0, 28.0]])
    rule = Protocol("value", 0.8, 0.0)
    clipped = localise(e, boxes, rule, clip_percentile=90.0)
    for name, relevance in baseline_maps(boxes, (32, 32)).items():
        expected = score_map(relevance, boxes, rule, clip_percentile=90.0)
        assert clipped["baselines"][name]["iou_1"] == pytest.approx(expected["iou_1"])
        assert clipped["baselines"][name]["pxap"] == pytest.approx(expected["pxap"])
    plain = localise(e, boxes, rule)
    # the centre Gaussian's top decile saturates at 1 under clipping: a larger value mask
    gauss = "centre_gaussian"
    assert (
        clipped["baselines"][gauss]["active_fraction"]
        > plain["baselines"][gauss]["active_fraction"]
    )


def test_a_large_digit_found_by_the_map_and_the_centre_prior_reads_as_a_tie_not_a_failure():
    from svhn_xai.scoring.localisation import reading_notes

    scores = {
        "active_fraction": 0.30,
        "relevance_mass": 0.84,
        "pointing_game": 1.0,
        "versus": {"relevance_mass": {"baseline": "centre_gaussian", "difference": -0.004}},
    }
    ceiling, tie = reading_notes(scores, box_share=0.60)
    assert "IoU₁ can reach at most 0.50 here" in ceiling  # a 30 % mask inside a 60 % box
    assert "84% of the positive relevance" in tie and "centre gaussian map" in tie
    assert "does about as well here" in tie
    # a prior that clearly beats the map (mass 0.84 against 0.97) is said to do better
    prior = {"baseline": "centre_gaussian", "value": 0.97, "difference": -0.13}
    lost = {**scores, "versus": {"relevance_mass": prior}}
    (worse,) = reading_notes(lost, box_share=0.2)
    assert "does better here (97% in the box)" in worse and "about as well" not in worse
    # a small box, or a map that clearly beats the prior: nothing to excuse
    beaten = {**scores, "versus": {"relevance_mass": {"baseline": "x", "difference": 0.2}}}
    assert reading_notes(beaten, box_share=0.2) == []
    missed = {**scores, "pointing_game": 0.0}  # the peak off the digit: no "lies on the digit"
    assert not any("lies on the digit" in n for n in reading_notes(missed, 0.2))


def test_the_mask_shown_is_the_mask_scored_and_with_no_box_the_one_the_rule_cuts():
    from svhn_xai.scoring.protocol import Protocol

    attribution = np.zeros((3, 64, 64), dtype=np.float32)
    attribution[0] = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)  # no two pixels tie
    e = _explanation(attribution)
    rule = Protocol("topk", 20.0)
    boxes = np.array([[40.0, 40.0, 64.0, 64.0]])
    result, mask = localise_with_mask(e, boxes, rule)
    assert mask.sum() == round(0.2 * 64 * 64) and result["active_fraction"] == mask.mean()
    assert mask[63, 63] and not mask[0, 0]  # the top 20 % of a ramp: its last rows
    unscored, cut = localise_with_mask(e, np.zeros((0, 4)), rule)
    assert not unscored["scored"] and np.array_equal(cut, mask)  # the same cut, nothing scored
    assert localise_with_mask(e, np.zeros((0, 4)), Protocol("truth_area", 0.0))[1] is None


def test_a_mask_smaller_than_a_large_box_near_its_ceiling_is_marked_capped_not_a_miss():
    """A box filling 64 % of the crop, the map's heat inside it, the method calibrated at top-k
    20 % and the centre prior at 60 %: the method's IoU₁ can reach at most 0.20 / 0.64 = 0.31,
    and the prior's larger mask beats it without looking. The comparison carries that ceiling,
    so the page reads it as a tie, not a failure."""
    from svhn_xai.scoring.calibration import Calibration
    from svhn_xai.scoring.protocol import Protocol

    rule = Protocol("topk", 20.0)
    calibration = Calibration(rule, {"saliency": 20.0, "centre_gaussian": 60.0}, "00" * 32)
    attribution = np.zeros((3, 64, 64), dtype=np.float32)
    attribution[0, 2:38, 2:62] = np.arange(36 * 60, 0, -1, dtype=np.float32).reshape(36, 60)
    boxes = np.array([[0.0, 0.0, 64.0, 41.0]])  # 64 % of the crop, the heat inside it
    e = _explanation(attribution)
    result, _ = localise_with_mask(e, boxes, rule, calibration=calibration)
    versus = result["versus"]["iou_1"]
    assert versus["baseline"] == "centre_gaussian" and versus["difference"] < 0
    assert versus["capped"] == pytest.approx(0.20 / (41 / 64), rel=1e-3)
    assert result["iou_1"] >= 0.9 * versus["capped"]
    small = np.array([[0.0, 0.0, 64.0, 13.0]])  # a box the mask covers: nothing capped
    result, _ = localise_with_mask(e, small, rule, calibration=calibration)
    assert "capped" not in result["versus"]["iou_1"]


def test_cut_at_is_the_value_threshold_that_keeps_the_mask():
    """The IoU-vs-threshold curve marks where the mask was cut: for top-k, the value threshold
    that keeps the same pixels."""
    from svhn_xai.scoring.heatmap import normalise, threshold
    from svhn_xai.scoring.protocol import Protocol

    attribution = np.zeros((3, 64, 64), dtype=np.float32)
    attribution[0] = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    result, mask = localise_with_mask(
        _explanation(attribution), np.array([[0.0, 0.0, 32.0, 32.0]]), Protocol("topk", 20.0)
    )
    same = threshold(normalise(attribution[0].astype(np.float64)), "value", result["cut_at"])
    assert 0.7 < result["cut_at"] < 0.9 and np.array_equal(same.mask, mask)
