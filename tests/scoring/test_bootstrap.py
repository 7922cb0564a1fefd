import numpy as np
import pytest

from svhn_xai.scoring.bootstrap import balanced_accuracy_interval, paired_difference


def _presence(digits_per_photo: list[tuple[int, ...]]) -> np.ndarray:
    presence = np.zeros((len(digits_per_photo), 10), dtype=np.float32)
    for row, digits in enumerate(digits_per_photo):
        presence[row, list(digits)] = 1
    return presence


def test_a_perfect_model_scores_one_on_every_resample():
    presence = _presence([(1,), (2, 3), (1, 4), ()] * 5)
    interval = balanced_accuracy_interval(presence.copy(), presence, resamples=500)
    assert interval.estimate == 1.0
    assert (interval.low, interval.high) == (1.0, 1.0)


def test_the_estimate_is_hand_computed_balanced_accuracy_and_the_interval_holds_it():
    # one head (digit 1) on 4 photos: recall 1/2 (one of two 1s found), specificity 2/2
    presence = _presence([(1,), (1,), (), ()])
    probabilities = np.array([[0.9], [0.2], [0.1], [0.4]])
    interval = balanced_accuracy_interval(probabilities, presence, digits=(1,), resamples=2000)
    assert interval.estimate == pytest.approx(0.75)
    assert interval.low <= 0.75 <= interval.high
    assert interval.low >= 0.5 and interval.high <= 1.0  # no resample can leave these bounds


def test_a_model_against_itself_differs_by_exactly_zero():
    rng = np.random.default_rng(0)
    presence = _presence([tuple(rng.choice(10, 2, replace=False)) for _ in range(40)])
    probabilities = rng.random((40, 10))
    d = paired_difference(probabilities, probabilities, presence, resamples=300)
    assert (d.estimate, d.low, d.high) == (0.0, 0.0, 0.0)


def test_pairing_narrows_the_interval_of_a_small_consistent_gain():
    """Model B fixes two of A's mistakes and is otherwise identical: the paired interval of
    B - A lies above zero, though A's and B's own intervals overlap widely."""
    rng = np.random.default_rng(1)
    presence = _presence([tuple(rng.choice(10, 2, replace=False)) for _ in range(120)])
    truth = presence.astype(bool)
    a = np.where(truth, 0.9, 0.1)
    wrong = rng.choice(120, 30, replace=False)
    a[wrong, :] = 1 - a[wrong, :]  # A gets every head of 30 photos wrong
    b = a.copy()
    b[wrong[:6], :] = 1 - b[wrong[:6], :]  # B gets 6 of them right
    d = paired_difference(b, a, presence, resamples=2000)
    alone_a = balanced_accuracy_interval(a, presence, resamples=2000)
    alone_b = balanced_accuracy_interval(b, presence, resamples=2000)
    assert d.estimate > 0 and d.low > 0
    assert d.at_or_below_zero < 0.025
    assert alone_b.low < alone_a.high  # unpaired, the two intervals overlap


def test_a_resample_without_positives_of_a_digit_leaves_that_digit_out():
    # digit 9 appears on one photo only; the draws must stay finite and within [0, 1]
    presence = _presence([(9,), (1,), (1,), (), (1,), ()])
    probabilities = np.where(presence > 0, 0.8, 0.2)[:, [1, 9]]
    interval = balanced_accuracy_interval(probabilities, presence, digits=(1, 9), resamples=500)
    assert 0.0 <= interval.low <= interval.high <= 1.0
    assert interval.estimate == 1.0


def test_probabilities_of_the_wrong_shape_are_refused():
    presence = _presence([(1,), ()])
    with pytest.raises(ValueError, match="photos, digits"):
        balanced_accuracy_interval(np.zeros((2, 3)), presence)
    with pytest.raises(ValueError, match="photos, digits"):
        paired_difference(np.zeros((2, 10)), np.zeros((3, 10)), presence)
