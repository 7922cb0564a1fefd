import numpy as np

from svhn_xai.data.synthetic import SyntheticHouseNumbers, font_paths
from svhn_xai.data.target import to_model_input


def test_items_are_reproducible_and_distinct():
    a, b = SyntheticHouseNumbers(5, seed=7), SyntheticHouseNumbers(5, seed=7)
    assert np.array_equal(a[3].image, b[3].image) and a[3].labels == b[3].labels
    assert not np.array_equal(a[3].image, SyntheticHouseNumbers(5, seed=8)[3].image)


def test_boxes_inside_the_image_left_to_right():
    ds = SyntheticHouseNumbers(40, seed=1)
    for i in range(len(ds)):
        item = ds[i]
        assert 1 <= len(item.labels) <= 5
        h, w = item.image.shape[:2]
        for box in item.boxes:
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        # boxes are ordered left to right like SVHN's
        assert np.all(np.diff(item.boxes[:, 0]) > 0)


def test_several_fonts_are_available():
    names = [p.stem for p in font_paths()]
    assert len(names) >= 10 and "DejaVuSans" in names and "cmsy10" not in names


def test_digit_balance_over_many_items():
    ds = SyntheticHouseNumbers(300, seed=2)
    presence = np.stack([ds[i].presence() for i in range(len(ds))])
    rate = presence.mean(0)
    assert rate.min() > 0.12 and rate.max() < 0.35


def test_model_input_of_synthetic_item_keeps_boxes_inside():
    item = SyntheticHouseNumbers(3, seed=0)[0]
    m = to_model_input(item, 64).item
    assert m.image.shape == (64, 64, 3)
    assert (m.boxes >= 0).all() and (m.boxes <= 64).all()
