import numpy as np
import pytest
import torch
from torchvision.ops import box_iou as tv_box_iou

from svhn_xai.scoring.localisation import baseline_maps, score_map
from svhn_xai.scoring.metrics import (
    BOX_ACC_GRID,
    baseline_heatmap,
    box_accuracy,
    box_iou,
    box_mask,
    iou_curve,
    max_box_accuracy,
    pointing_game,
    pointing_game_tolerant,
    pxap,
    rank_accuracy,
    relevance_mass,
    tolerance_px,
    topk_intersection,
)
from svhn_xai.scoring.protocol import Protocol
from svhn_xai.scoring.registry import METRICS, score

BOX = np.array([[2, 2, 6, 6]])  # 16 pixels on a 10 x 10 image


def _heat(x0, y0, x1, y1, shape=(10, 10)):
    heat = np.zeros(shape)
    heat[y0:y1, x0:x1] = 1.0
    return heat


def test_box_mask_uses_pixel_centres():
    assert box_mask(BOX, (10, 10)).sum() == 16
    assert box_mask(np.array([[1.4, 0, 2.6, 1]]), (2, 4)).tolist() == [
        [False, True, True, False],
        [False, False, False, False],
    ]


def test_all_inside_exactly():
    s = score(_heat(2, 2, 6, 6), BOX)
    assert (s.iou_1, s.iou_2, s.pointing_game, s.relevance_mass) == (1.0, 1.0, 1.0, 1.0)
    assert s.heatmap_box == [2, 2, 6, 6] and not s.empty_mask


def test_none_inside():
    s = score(_heat(7, 7, 10, 10), BOX)
    assert (s.iou_1, s.iou_2, s.pointing_game, s.relevance_mass) == (0.0, 0.0, 0.0, 0.0)


def test_half_inside_by_hand():
    # heat covers columns 4..7, rows 2..5: 16 px, of which columns 4, 5 (8 px) are in the box
    s = score(_heat(4, 2, 8, 6), BOX)
    assert s.iou_1 == pytest.approx(8 / 24)
    assert s.iou_2 == pytest.approx(8 / 24)
    assert s.relevance_mass == pytest.approx(0.5)
    assert s.pointing_game == pytest.approx(0.5)  # flat top: half of the maxima are inside


def test_heat_box_larger_than_its_pixels():
    # two separate blobs: IoU_1 counts their pixels, IoU_2 the box around both
    heat = _heat(2, 2, 4, 4) + _heat(8, 8, 10, 10)
    s = score(heat, BOX)
    assert s.iou_1 == pytest.approx(4 / (16 + 4))
    assert s.heatmap_box == [2, 2, 10, 10]
    assert s.iou_2 == pytest.approx(16 / 64)


def test_two_boxes_of_the_digit_union_for_iou1_best_match_for_iou2():
    boxes = np.array([[0, 0, 2, 2], [6, 6, 10, 10]])  # the digit appears twice: 4 + 16 px
    s = score(_heat(6, 6, 10, 10), boxes)
    assert s.iou_1 == pytest.approx(16 / 20)
    assert s.iou_2 == 1.0  # best match: the second box


def test_empty_mask_scores_zero_and_says_so():
    s = score(np.zeros((10, 10)), BOX)
    assert s.empty_mask and s.iou_1 == 0 and s.iou_2 == 0 and s.heatmap_box is None
    assert s.pointing_game == 0 and s.relevance_mass == 0


def test_box_partly_outside_the_image():
    s = score(_heat(8, 8, 10, 10), np.array([[8, 8, 14, 14]]))
    assert s.iou_1 == 1.0  # only the visible part of the box has pixels
    assert s.iou_2 == pytest.approx(4 / 36)  # the box itself keeps its size


@pytest.mark.parametrize("seed", range(5))
def test_box_iou_matches_torchvision(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        a = np.sort(rng.integers(0, 20, (2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]]
        b = np.sort(rng.integers(0, 20, (2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]]
        if a[2] == a[0] or a[3] == a[1] or b[2] == b[0] or b[3] == b[1]:
            continue
        expected = tv_box_iou(
            torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
        )
        assert box_iou(a, b) == pytest.approx(float(expected[0, 0]))


def test_pointing_game_and_mass_by_hand():
    heat = np.zeros((10, 10))
    heat[3, 3], heat[9, 9] = 1.0, 0.5
    assert pointing_game(heat, BOX) == 1.0
    assert relevance_mass(heat, BOX) == pytest.approx(1 / 1.5)


def test_whole_image_baseline_is_the_box_share():
    rule = Protocol("value", 0.5)
    scores = {k: score_map(m, BOX, rule) for k, m in baseline_maps(BOX, (10, 10)).items()}
    assert scores["whole_image"]["iou_1"] == pytest.approx(16 / 100)
    assert scores["whole_image"]["iou_2"] == pytest.approx(16 / 100)
    assert scores["whole_image"]["pointing_game"] == pytest.approx(16 / 100)
    assert scores["whole_image"]["rank_accuracy"] == pytest.approx(16 / 100)  # all tied: chance
    assert scores["centre_gaussian"]["pointing_game"] == 1.0  # the centre pixels lie in the box
    random_map = baseline_heatmap("uniform_random", (10, 10), seed=1)
    assert np.array_equal(random_map, baseline_heatmap("uniform_random", (10, 10), seed=1))


def test_iou_curve_and_area():
    heat = np.zeros((10, 10))
    heat[2:6, 2:6] = 0.5  # inside the box, but only above thresholds below 0.5
    curve = iou_curve(heat, BOX, np.array([0.0, 0.25, 0.5, 0.75]))
    assert curve["iou_1"] == [1.0, 1.0, 0.0, 0.0]
    assert curve["auc_iou_1"] == 0.5
    assert curve["oracle_iou_1"] == 1.0 and curve["oracle_threshold"] == 0.0


def test_rank_accuracy_by_hand():
    # the box has 16 pixels; the 16 highest-ranked: 10 inside (value 3), 6 outside (value 2)
    relevance = np.zeros((10, 10))
    relevance[2:6, 2:6] = 1.0
    relevance.flat[np.flatnonzero(box_mask(BOX, (10, 10)))[:10]] = 3.0
    relevance[8, :6] = 2.0
    assert rank_accuracy(relevance, BOX) == pytest.approx(10 / 16)
    # ties at the cut count in expectation: 4 strong inside, then 12 places shared by the 12
    # remaining box pixels (value 1) and 12 outside (value 1): half of them expected inside
    tied = np.zeros((10, 10))
    tied[2:6, 2:6] = 1.0
    tied[2, 2:6] = 5.0
    tied[8, :] = 1.0
    tied[9, :2] = 1.0
    assert rank_accuracy(tied, BOX) == pytest.approx((4 + 12 * 12 / 24) / 16)
    assert rank_accuracy(np.ones((10, 10)), BOX) == pytest.approx(16 / 100)


def test_topk_intersection_by_hand():
    relevance = np.zeros((10, 10))
    relevance[3, 3], relevance[9, 9], relevance[0, 0] = 3.0, 2.0, 1.0
    assert topk_intersection(relevance, BOX, 1) == 1.0
    assert topk_intersection(relevance, BOX, 2) == 0.5
    assert topk_intersection(relevance, BOX, 3) == pytest.approx(1 / 3)


def test_tolerant_pointing_game_by_hand():
    # the peak sits one column right of the box (box columns 2..5, peak column 6)
    relevance = np.zeros((10, 10))
    relevance[3, 6] = 1.0
    assert pointing_game(relevance, BOX) == 0.0
    assert pointing_game_tolerant(relevance, BOX, tolerance=1.01) == 1.0
    assert pointing_game_tolerant(relevance, BOX, tolerance=1.0) == 0.0  # strictly closer
    relevance[3, 6], relevance[3, 9] = 0.0, 1.0  # four columns away
    assert pointing_game_tolerant(relevance, BOX, tolerance=4.01) == 1.0
    assert pointing_game_tolerant(relevance, BOX, tolerance=3.9) == 0.0
    # TorchRay's 15 px at 224 px, scaled: 4.29 px at 64, 15 at 224
    assert tolerance_px(64) == pytest.approx(15 * 64 / 224) and tolerance_px(224) == 15
    wide = np.zeros((64, 64))
    wide[10, 23] = 1.0  # 4 columns right of a box ending at column 19 (x1 = 20)
    assert pointing_game_tolerant(wide, np.array([[10, 5, 20, 15]])) == 1.0
    wide[10, 23], wide[10, 24] = 0.0, 1.0  # 5 columns: beyond 4.29
    assert pointing_game_tolerant(wide, np.array([[10, 5, 20, 15]])) == 0.0


def test_rule_free_scores_use_the_raw_map():
    """Pointing game, mass and rank accuracy come from ``relevance``, the mask from ``heat``."""
    relevance = np.zeros((10, 10))
    relevance[3, 3], relevance[9, 9] = 2.0, 1.0
    heat = _heat(7, 7, 10, 10)  # the map the mask is cut from says something else
    s = score(heat, BOX, "value", 0.5, relevance).values
    assert s["pointing_game"] == 1.0 and s["relevance_mass"] == pytest.approx(2 / 3)
    assert s["iou_1"] == 0.0
    # PxAP reads the map the mask is cut from: its 9 hot pixels lie outside the box (recall 0),
    # and the whole box comes with the zero-heat tie, at precision 16 of all 100 pixels
    assert s["pxap"] == pytest.approx(16 / 100)


def test_every_score_declares_its_direction():
    numeric = [k for k, v in score(_heat(2, 2, 6, 6), BOX).values.items()]
    assert set(numeric) <= set(METRICS)
    assert all(METRICS[k].direction == "higher" for k in numeric if k != "active_fraction")
    assert METRICS["seconds"].direction == "lower"


def test_iou_curve_is_score_at_every_threshold_of_its_grid():
    from svhn_xai.scoring.metrics import THRESHOLD_GRID, iou_curve

    rng = np.random.default_rng(7)
    for trial in range(20):
        heat = rng.random((64, 64)) ** (1 + trial % 4)  # flat to peaked maps
        heat[rng.random((64, 64)) < 0.3] = 0
        corners = np.sort(rng.integers(0, 64, (1 + trial % 3, 2, 2)), axis=1)  # (K, 2, xy)
        boxes = corners.reshape(-1, 4) + np.array([0, 0, 1, 1])  # [x0, y0, x1, y1], half-open
        curve = iou_curve(heat, boxes)
        for t, iou_1, iou_2 in zip(THRESHOLD_GRID, curve["iou_1"], curve["iou_2"]):
            expected = score(heat, boxes, "value", float(t)).values
            assert iou_1 == pytest.approx(expected["iou_1"], abs=1e-12)
            assert iou_2 == pytest.approx(expected["iou_2"], abs=1e-12)


def test_pxap_by_hand():
    # a perfect map ranks every box pixel first: precision 1 at every recall
    assert pxap(_heat(2, 2, 6, 6), BOX) == 1.0
    # a flat map is one tie: one point, recall 1 at the box share of the image
    assert pxap(np.ones((10, 10)), BOX) == pytest.approx(16 / 100)
    # 8 box pixels at 1, then 4 outside at 0.5, then the rest tied at 0:
    # recall 1/2 at precision 1, still 1/2 at 8/12, then 1 at 16/100
    heat = np.zeros((10, 10))
    heat.flat[np.flatnonzero(box_mask(BOX, (10, 10)))[:8]] = 1.0
    heat[9, :4] = 0.5
    assert pxap(heat, BOX) == pytest.approx(0.5 * 1 + 0 * 8 / 12 + 0.5 * 16 / 100)
    # negative heat is no evidence: the same as zero
    assert pxap(np.where(heat > 0, heat, -1.0), BOX) == pytest.approx(pxap(heat, BOX))


def test_pxap_is_scikit_learns_average_precision_ties_included():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(3)
    for trial in range(50):
        heat = np.round(rng.random((12, 12)), 1 + trial % 2) - 0.2  # many ties, some negative
        x0, y0 = rng.integers(0, 6, 2)
        boxes = np.array([[x0, y0, x0 + rng.integers(1, 7), y0 + rng.integers(1, 7)]])
        truth = box_mask(boxes, heat.shape).ravel()
        expected = average_precision_score(truth, np.clip(heat, 0, None).ravel())
        assert pxap(heat, boxes) == pytest.approx(expected, abs=1e-12)


def test_box_accuracy_of_one_pair_counts_the_bars_it_clears():
    assert box_accuracy(0.0) == 0.0
    assert box_accuracy(0.3) == pytest.approx(1 / 3)  # IoU >= 0.3 only
    assert box_accuracy(0.69) == pytest.approx(2 / 3)
    assert box_accuracy(0.7) == 1.0


def test_max_box_accuracy_chooses_the_best_threshold_for_each_bar():
    thresholds = np.array([0.1, 0.5, 0.9])
    iou_2 = np.array(
        [
            [0.35, 0.60, 0.80],  # improves as the threshold rises
            [0.75, 0.55, 0.10],  # falls
            [0.20, 0.50, 0.40],
        ]
    )
    out = max_box_accuracy(iou_2, thresholds)
    # delta 0.3: 3/3 at 0.5; delta 0.5: 3/3 at 0.5; delta 0.7: 1/3 at 0.1 (first best)
    assert out["per_delta"] == {"0.3": 1.0, "0.5": 1.0, "0.7": pytest.approx(1 / 3)}
    assert out["thresholds"] == {"0.3": 0.5, "0.5": 0.5, "0.7": 0.1}
    assert out["max_box_acc"] == pytest.approx((1 + 1 + 1 / 3) / 3)


def test_one_pairs_max_box_acc_is_its_box_accuracy_at_its_own_cut():
    heat = _heat(2, 2, 5, 6)  # 12 of the box's 16 pixels: IoU_2 = 0.75
    s = score(heat, BOX, "value", 0.5).values
    assert s["iou_2"] == pytest.approx(0.75) and s["max_box_acc"] == 1.0
    assert len(BOX_ACC_GRID) == 100 and BOX_ACC_GRID[1] == 0.01
