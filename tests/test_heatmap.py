import numpy as np
import pytest

from svhn_xai.heatmap import mask_box, normalise, otsu_threshold, reduce_channels, threshold


def test_reductions_by_hand():
    a = np.array([[[1.0, -2.0]], [[-3.0, 1.0]], [[1.0, 0.0]]])  # (3, 1, 2)
    assert reduce_channels(a, "sum").tolist() == [[-1.0, -1.0]]
    assert reduce_channels(a, "abs").tolist() == [[5.0, 3.0]]
    assert reduce_channels(np.array([[[2.0, -1.0]]]), "positive").tolist() == [[2.0, 0.0]]
    with pytest.raises(ValueError):
        reduce_channels(a, "max")


def test_normalise_nonnegative_signed_clipped_and_constant():
    assert normalise(np.array([[0.0, 2.0, 4.0]])).tolist() == [[0.0, 0.5, 1.0]]
    assert normalise(np.array([[-2.0, 0.0, 2.0]])).tolist() == [[0.0, 0.5, 1.0]]
    clipped = normalise(np.array([[0.0] * 8 + [1.0, 100.0]]), clip_percentile=80)
    assert clipped.max() == 1.0 and clipped[0, 8] == 1.0  # the outlier no longer squashes 1.0
    assert not normalise(np.zeros((4, 4))).any()
    assert normalise(np.full((2, 2), np.nan)).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_value_threshold_is_strictly_above():
    heat = np.array([[0.2, 0.5, 0.9]])
    cut = threshold(heat, "value", 0.5)
    assert cut.mask.tolist() == [[False, False, True]] and cut.threshold == 0.5


def test_topk_counts_pixels_includes_ties_and_never_zero_heat():
    heat = np.array([[0.1, 0.4, 0.4, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    assert threshold(heat, "topk", 10).mask.sum() == 1  # 10 % of 10 pixels
    assert threshold(heat, "topk", 20).mask.sum() == 3  # the 0.4 tie comes along
    assert threshold(heat, "topk", 100).mask.sum() == 4  # zero heat is never active
    with pytest.raises(ValueError):
        threshold(heat, "topk", 0)


def test_otsu_separates_two_clusters():
    heat = np.array([0.1] * 50 + [0.12] * 50 + [0.8] * 20 + [0.85] * 20).reshape(10, 14)
    t = otsu_threshold(heat)
    assert 0.12 <= t < 0.8
    assert threshold(heat, "otsu").mask.sum() == 40


def test_empty_and_full_mask_boxes_half_open():
    mask = np.zeros((5, 6), bool)
    assert mask_box(mask) is None
    mask[1:3, 2:5] = True
    assert mask_box(mask).tolist() == [2, 1, 5, 3]
