from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from svhn_xai.data.sources import open_source
from svhn_xai.data.synthetic import RealParts, RecomposedHouseNumbers, Style
from svhn_xai.data.synthetic.real_parts import DigitCut
from svhn_xai.data.synthetic.recompose import compose, feather
from svhn_xai.errors import ParameterError
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.crossval import kfold
from svhn_xai.model.run_data import load_tensors, real_parts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "svhn"


def _black(rng, size):
    width, height = size
    return np.zeros((height, width, 3))


@pytest.mark.parametrize("seed", range(8))
def test_each_pasted_digit_lies_exactly_in_its_box(seed):
    """Solid cuts on a black wall: every box holds its cut's ink, and no ink lies outside
    the boxes (the feathered edge still leaves every pasted pixel above zero)."""
    rng = np.random.default_rng(seed)
    cuts = [
        DigitCut(np.full((int(h), int(w), 3), 255, np.uint8), d, "p")
        for h, w, d in zip(rng.integers(10, 40, 3), rng.integers(4, 30, 3), (1, 2, 3))
    ]
    canvas, boxes = compose(rng, cuts, int(rng.integers(14, 48)), _black)
    painted = canvas[..., 0] > 0
    union = np.zeros_like(painted)
    for x0, y0, x1, y1 in boxes.astype(int):
        assert painted[y0:y1, x0:x1].all()  # the box is all ink
        union[y0:y1, x0:x1] = True
    assert not (painted & ~union).any()  # and there is no ink outside the boxes
    assert (np.diff(boxes[:, 0]) > 0).all()  # left to right


def test_feather_is_one_inside_and_falls_towards_every_edge():
    alpha = feather(20, 40)
    assert alpha[10, 20] == 1.0 and (alpha > 0).all() and alpha.max() == 1.0
    assert alpha[10, 0] < alpha[10, 3] < alpha[10, 20] and alpha[0, 20] < alpha[5, 20]


@pytest.fixture(scope="module")
def parts():
    return RealParts(open_source("svhn", "train", FIXTURES, None, "0:8"))


def test_items_are_reproducible_labelled_by_their_cuts_and_boxed_inside(parts):
    a = RecomposedHouseNumbers(parts, 12, seed=3, style=Style(perspective=True, motion_blur=True))
    b = RecomposedHouseNumbers(parts, 12, seed=3, style=Style(perspective=True, motion_blur=True))
    labels_of = {c.photo: set() for c in parts.digits}
    for c in parts.digits:
        labels_of[c.photo].add(c.label)
    for i in range(len(a)):
        item = a[i]
        assert np.array_equal(item.image, b[i].image) and item.labels == b[i].labels
        assert len(item.labels) == len(item.boxes) == len(item.cut_from)
        height, width = item.image.shape[:2]
        for box in item.boxes:
            assert 0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height
        for label, photo in zip(item.labels, item.cut_from):
            assert label in labels_of[photo]  # each digit keeps the label of its cut
    assert not np.array_equal(a[0].image, RecomposedHouseNumbers(parts, 12, seed=4)[0].image)


def test_a_folds_recomposed_digits_come_from_its_training_photos_only(tmp_path, monkeypatch):
    monkeypatch.setenv("SVHN_XAI_CACHE", str(tmp_path))
    fold = kfold("0:9", 3)[1]  # trains on 0:3 and 6:9, tests on 3:6
    cfg = TrainConfig(data="svhn", root=str(FIXTURES), split="train", indices=fold.train, workers=1)
    train_names = {
        open_source("svhn", "train", FIXTURES, None, fold.train)[i].name for i in range(6)
    }
    test_names = {open_source("svhn", "train", FIXTURES, None, fold.test)[i].name for i in range(3)}
    cut = real_parts(replace(cfg, mix_recomposed=40))
    assert set(cut.photos) == train_names and not set(cut.photos) & test_names
    source = RecomposedHouseNumbers(cut, 40)
    used = {photo for i in range(40) for photo in source[i].cut_from}
    assert used <= train_names and len(used) >= 4
    tensors = load_tensors(cfg, "recomposed", "train", None, 40, 0.0, parts=cut)
    assert tensors.images.shape == (40, 3, 64, 64)


def test_options_that_cut_photos_refuse_synthetic_training():
    with pytest.raises(ParameterError, match="--data svhn"):
        real_parts(TrainConfig(data="synthetic", mix_recomposed=10))
