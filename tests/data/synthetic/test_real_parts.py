import numpy as np
import pytest

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.synthetic.real_parts import RealParts


def _photo(name="a.png", boxes=((40, 10, 60, 40),), labels=(7,), colour=(200, 100, 50)):
    image = np.zeros((50, 100, 3), dtype=np.uint8)
    image[:] = colour
    for x0, y0, x1, y1 in boxes:
        image[int(y0) : int(y1), int(x0) : int(x1)] = (255, 255, 255)
    return HouseNumber(image=image, labels=labels, boxes=np.array(boxes, float), name=name)


def test_a_digit_is_cut_by_its_box_and_the_walls_are_the_strips_beside_it():
    parts = RealParts([_photo()])
    (cut,) = parts.digits
    assert cut.pixels.shape == (30, 20, 3) and (cut.pixels == 255).all()
    assert (cut.label, cut.photo) == (7, "a.png")
    # left and right of the box: 50 x 40 each; above and below are 10 rows, under 12
    assert sorted(s.shape for s in parts.backgrounds) == [(50, 40, 3), (50, 40, 3)]
    assert not any((s == 255).any() for s in parts.backgrounds)  # no digit in a wall


def test_fractional_boxes_are_rounded_outwards_and_clipped_to_the_photo():
    parts = RealParts([_photo(boxes=((39.6, 9.2, 60.1, 50.0),))])
    assert parts.digits[0].pixels.shape == (41, 22, 3)  # rows 9-49, columns 39-60


def test_boxes_too_small_to_enlarge_are_skipped_and_no_digit_at_all_is_refused():
    with pytest.raises(ValueError, match="large enough"):
        RealParts([_photo(boxes=((40, 10, 60, 15),))])  # 5 px tall


def test_a_wall_is_drawn_from_the_strips_at_the_canvas_size():
    parts = RealParts([_photo(colour=(10, 20, 30))])
    wall = parts.wall(np.random.default_rng(0), (64, 32))
    assert wall.shape == (32, 64, 3) and wall.dtype == np.float64
    np.testing.assert_allclose(wall, np.broadcast_to([10, 20, 30], wall.shape))


def test_digits_are_grouped_by_photo():
    photos = [
        _photo("a.png", boxes=((10, 10, 30, 40), (40, 10, 60, 40)), labels=(1, 2)),
        _photo("b.png"),
    ]
    parts = RealParts(photos)
    assert [[c.label for c in group] for group in parts.by_photo] == [[1, 2], [7]]
    assert parts.photos == ("a.png", "b.png")
