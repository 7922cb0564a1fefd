from pathlib import Path

import numpy as np
import pytest

from svhn_xai.data.indices import parse_indices
from svhn_xai.errors import ParameterError
from svhn_xai.model.checkpoint import load_checkpoint
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.crossval import (
    OutOfFold,
    cross_validate,
    kfold,
    score_checkpoint,
    thresholds_out_of_fold,
    tune_thresholds,
)
from svhn_xai.model.run_data import load_tensors

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "svhn"


def test_three_folds_of_the_development_photos():
    folds = kfold("0:192", 3)
    assert [(f.train, f.test) for f in folds] == [
        ("64:128,128:192", "0:64"),
        ("0:64,128:192", "64:128"),
        ("0:64,64:128", "128:192"),
    ]


def test_folds_cover_every_photo_once_and_never_train_on_their_own():
    folds = kfold("10:21", 3)  # 11 photos: folds of 3, 4, 4
    tested = [list(parse_indices(f.test, 100)) for f in folds]
    assert sorted(i for t in tested for i in t) == list(range(10, 21))
    assert [len(t) for t in tested] == [3, 4, 4]
    for fold, test in zip(folds, tested):
        train = list(parse_indices(fold.train, 100))
        assert not set(train) & set(test)
        assert sorted(train + test) == list(range(10, 21))


@pytest.mark.parametrize("span, k", [("0:5", 1), ("0:5", 6), ("a:b", 2), ("7", 2)])
def test_impossible_folds_are_refused(span, k):
    with pytest.raises(ParameterError):
        kfold(span, k)


def test_tuned_thresholds_are_hand_checked():
    # head 0: positives at 0.3 and 0.4, negatives at 0.1 and 0.2 -> any t in (0.2, 0.3]
    # separates them, and the lowest grid value that does is 0.3; head 1: positives at 0.9
    # and 0.8, negatives at 0.6 and 0.2 -> only 0.7 separates them
    presence = np.zeros((4, 10))
    presence[[0, 1], 0] = 1
    presence[[0, 2], 1] = 1
    probabilities = np.array([[0.3, 0.9], [0.4, 0.6], [0.1, 0.8], [0.2, 0.2]])
    grid = np.array([0.1, 0.2, 0.3, 0.5, 0.7])
    assert tune_thresholds(probabilities, presence, (0, 1), grid).tolist() == [0.3, 0.7]


def test_thresholds_are_tuned_on_the_training_folds_and_applied_to_the_test_fold():
    """Fold 0's positive scores below every negative: tuned on fold 0 itself, no threshold
    would catch it with a perfect score, tuned on folds 1-2 (as it must be), 0.1 misses it."""
    folds = kfold("0:6", 3)
    presence = np.zeros((6, 10))
    presence[[0, 2, 4], 0] = 1
    probs = np.full((6, 1), 0.05)  # negatives
    probs[[2, 4], 0] = 0.3  # the positives of folds 1 and 2
    probs[0, 0] = 0.02  # fold 0's positive
    oof = OutOfFold(probs, presence, [])
    decided, thresholds = thresholds_out_of_fold(oof, folds, grid=np.array([0.015, 0.1, 0.5]))
    assert thresholds == [[0.1], [0.1], [0.1]]
    assert decided[:, 0].tolist() == [0, 0, 1, 0, 1, 0]


def test_cross_validation_scores_each_photo_with_a_model_that_never_saw_it(tmp_path):
    recipe = TrainConfig(
        data="svhn",
        root=str(FIXTURES),
        split="train",
        epochs=1,
        batch_size=8,
        mix_synthetic=8,
        workers=1,
        seed=2,
    )
    folds = kfold("0:9", 3)
    oof = cross_validate(recipe, folds, tmp_path / "cv", synthetic_images=16)
    truth = load_tensors(recipe, "svhn", "train", "0:9", None, 0.0).presence.numpy()
    assert oof.probabilities.shape == (9, 10)
    np.testing.assert_array_equal(oof.presence, truth)  # pooled in the photos' own order
    for fold, record in zip(folds, oof.folds):
        card = load_checkpoint(tmp_path / "cv" / f"fold-{fold.number}.pt")
        assert card["config"]["indices"] == fold.train  # trained on the other folds only
        assert card["provenance"]["n_train"] == 6 * 2 + 8  # six photos, twice, plus 8
        assert (record["train"], record["test"], record["photos"]) == (fold.train, fold.test, 3)
        assert 0 <= record["synthetic_test_balanced_accuracy"] <= 1
    assert 0 <= oof.balanced_accuracy() <= 1


def test_a_fixed_model_is_scored_on_the_same_folds(random_checkpoint):
    recipe = TrainConfig(data="svhn", root=str(FIXTURES), split="train", workers=1)
    oof = score_checkpoint(random_checkpoint, recipe, kfold("0:12", 2), synthetic_images=8)
    assert oof.probabilities.shape == (12, 10)
    assert [r["train_seconds"] for r in oof.folds] == [0.0, 0.0]


def test_recipes_on_synthetic_data_are_refused(tmp_path):
    with pytest.raises(ParameterError, match="data=svhn"):
        cross_validate(TrainConfig(), kfold("0:4", 2), tmp_path)
