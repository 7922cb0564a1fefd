import numpy as np
import pytest

from svhn_xai.scoring.heatmap import (
    mask_box,
    normalise,
    otsu_threshold,
    reduce_channels,
    smooth,
    threshold,
)


def test_reductions_by_hand():
    a = np.array([[[1.0, -2.0]], [[-3.0, 1.0]], [[1.0, 0.0]]])  # (3, 1, 2)
    assert reduce_channels(a, "sum").tolist() == [[-1.0, -1.0]]
    assert reduce_channels(a, "abs").tolist() == [[5.0, 3.0]]
    assert reduce_channels(np.array([[[2.0, -1.0]]]), "positive").tolist() == [[2.0, 0.0]]
    with pytest.raises(ValueError):
        reduce_channels(a, "max")


def test_normalise_nonnegative_signed_clipped_and_constant():
    assert normalise(np.array([[0.0, 2.0, 4.0]])).tolist() == [[0.0, 0.5, 1.0]]
    # signed: divided by max |R|, so zero relevance stays at 0 (a shift put it at 0.5)
    assert normalise(np.array([[-4.0, 0.0, 2.0]])).tolist() == [[-1.0, 0.0, 0.5]]
    clipped = normalise(np.array([[0.0] * 8 + [1.0, 100.0]]), clip_percentile=80)
    assert clipped.max() == 1.0 and clipped[0, 8] == 1.0  # the outlier no longer squashes 1.0
    # the clip percentile is one of |R|: a large negative outlier saturates at -1
    signed = normalise(np.array([[-100.0, 1.0, 1.0, 1.0, 1.0]]), clip_percentile=60)
    assert signed.tolist() == [[-1.0, 1.0, 1.0, 1.0, 1.0]]
    assert not normalise(np.zeros((4, 4))).any()
    assert normalise(np.full((2, 2), np.nan)).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_signed_map_marks_only_its_positive_evidence():
    """An LRP-like signed sum: 4 strong positive pixels, 60 weak negative, the rest zero. The
    old min-shift put zero at 0.6 (every zero pixel active at 0.5: 96 %); now only the four."""
    relevance = np.zeros((10, 10))
    relevance[:6, :] = -1.0
    relevance[8, 2:6] = 1.5
    heat = normalise(relevance)
    assert threshold(heat, "value", 0.5).mask.sum() == 4
    assert threshold(heat, "value", 0.0).mask.sum() == 4  # negatives never pass
    assert threshold(heat, "topk", 50).mask.sum() == 4  # nor do they fill a top-k
    assert threshold(heat, "otsu").mask.sum() == 4


def test_value_threshold_is_strictly_above():
    heat = np.array([[0.2, 0.5, 0.9]])
    cut = threshold(heat, "value", 0.5)
    assert cut.mask.tolist() == [[False, False, True]] and cut.threshold == 0.5


def test_topk_counts_pixels_exactly_and_never_zero_heat():
    heat = np.array([[0.1, 0.4, 0.4, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    assert threshold(heat, "topk", 10).mask.sum() == 1  # 10 % of 10 pixels
    two = threshold(heat, "topk", 20).mask  # one of the two tied 0.4s, not both
    assert two.sum() == 2 and two[0, 3] and two[0, 1] != two[0, 2]
    assert threshold(heat, "topk", 100).mask.sum() == 4  # zero heat is never active
    negative = -np.ones((4, 4))
    negative[0, 0] = 0.5
    assert threshold(negative, "topk", 50).mask.sum() == 1  # nor is negative heat
    with pytest.raises(ValueError):
        threshold(heat, "topk", 0)


def test_truth_area_takes_as_many_pixels_as_the_box_has():
    heat = np.arange(10, dtype=float).reshape(1, 10) / 9
    assert threshold(heat, "truth_area", area=3).mask.tolist() == [[False] * 7 + [True] * 3]
    assert threshold(np.zeros((2, 5)), "truth_area", area=3).empty  # zero heat never active
    with pytest.raises(ValueError, match="box area"):
        threshold(heat, "truth_area")


def test_smoothing_by_hand():
    delta = np.zeros((9, 9))
    delta[4, 4] = 1.0
    assert np.array_equal(smooth(delta, 0), delta)
    out = smooth(delta, 1.0)
    assert out.sum() == pytest.approx(1.0)  # mass kept away from the border
    # separable Gaussian: the neighbour's share is exp(-1/2) of the centre's
    assert out[4, 5] / out[4, 4] == pytest.approx(np.exp(-0.5), rel=1e-6)
    assert out[3, 5] / out[4, 4] == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert np.array_equal(smooth(-delta, 1.0), -out)  # linear: signs survive
    with pytest.raises(ValueError):
        smooth(delta, -1)


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


def test_a_stack_of_maps_is_smoothed_and_normalised_map_by_map():
    rng = np.random.default_rng(0)
    maps = np.stack([rng.normal(size=(16, 16)), np.zeros((16, 16)), 5 * rng.random((16, 16))])
    for clip in (100.0, 90.0):
        stacked = normalise(smooth(maps, 2.0), clip)
        for one, alone in zip(stacked, maps):
            np.testing.assert_array_equal(one, normalise(smooth(alone, 2.0), clip))
    assert not normalise(maps)[1].any()


def test_topk_holds_a_flat_map_to_its_budget_with_ties_broken_by_a_fixed_random_order():
    flat = np.ones((64, 64))
    cut = threshold(flat, "topk", 20)
    assert cut.mask.sum() == round(0.2 * 64 * 64)  # not every tied pixel: exactly k
    assert np.array_equal(cut.mask, threshold(flat, "topk", 20).mask)  # the same mask twice
    # not the first rows: the tie is broken at random, so the mask is spread over the image
    assert 0.1 < cut.mask[:32].mean() / cut.mask.mean() / 2 < 0.9
    area = threshold(flat, "truth_area", area=100)
    assert area.mask.sum() == 100
