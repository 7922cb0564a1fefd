import numpy as np
import pytest
import torch
from torchvision.ops import box_iou as tv_box_iou

from svhn_xai.metrics import (
    baseline_heatmap,
    baseline_scores,
    box_iou,
    box_mask,
    iou_curve,
    pointing_game,
    relevance_mass,
    score,
)

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
    scores = baseline_scores(BOX, (10, 10))
    assert scores["whole_image"].iou_1 == pytest.approx(16 / 100)
    assert scores["whole_image"].iou_2 == pytest.approx(16 / 100)
    assert scores["whole_image"].pointing_game == pytest.approx(16 / 100)
    assert scores["centre_gaussian"].pointing_game == 1.0  # the centre pixels lie in the box
    random_map = baseline_heatmap("uniform_random", (10, 10), seed=1)
    assert np.array_equal(random_map, baseline_heatmap("uniform_random", (10, 10), seed=1))


def test_iou_curve_and_area():
    heat = np.zeros((10, 10))
    heat[2:6, 2:6] = 0.5  # inside the box, but only above thresholds below 0.5
    curve = iou_curve(heat, BOX, np.array([0.0, 0.25, 0.5, 0.75]))
    assert curve["iou_1"] == [1.0, 1.0, 0.0, 0.0]
    assert curve["auc_iou_1"] == 0.5
