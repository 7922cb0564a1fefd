import numpy as np
import pytest

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.target import crop_window, to_model_input, transform_boxes, union_box


def test_union_box():
    boxes = np.array([[10, 5, 18, 25], [18, 6, 27, 26]])
    assert union_box(boxes).tolist() == [10, 5, 27, 26]


def test_crop_window_grows_by_margin_and_clips_to_the_image():
    # union 10..30 x 10..20 (20 x 10); 25 % margin: 5 px sideways, 2.5 px up and down
    boxes = np.array([[10, 10, 30, 20]])
    assert crop_window(boxes, (100, 100), margin=0.25) == (5, 7, 35, 23)
    assert crop_window(boxes, (32, 21), margin=0.25) == (5, 7, 32, 21)


def test_boxes_through_crop_and_resize_by_hand():
    # window (5, 7)-(35, 23) is 30 x 16 px; resized to 60 x 32 => x * 2, y * 2
    window = (5, 7, 35, 23)
    boxes = np.array([[10, 10, 30, 20], [0, 7, 6, 9]])
    out = transform_boxes(boxes, window, (60, 32))
    assert out[0].tolist() == [10, 6, 50, 26]
    assert out[1].tolist() == [0, 0, 2, 4]  # starts left of the window: clipped at 0


def test_model_input_is_square_and_boxes_follow():
    image = np.zeros((40, 100, 3), dtype=np.uint8)
    image[10:30, 20:40] = 255  # the "digit": a white block exactly where the box says
    item = HouseNumber(image, (3,), np.array([[20, 10, 40, 30]]), "block")
    model_input = to_model_input(item, size=64, margin=0.0)
    assert model_input.window == (20, 10, 40, 30)
    assert model_input.item.image.shape == (64, 64, 3)
    assert model_input.item.boxes.tolist() == [[0, 0, 64, 64]]
    assert model_input.item.image.min() == 255


def test_jitter_needs_rng_and_is_reproducible():
    boxes = np.array([[10, 10, 30, 20]])
    with pytest.raises(ValueError):
        crop_window(boxes, (100, 100), jitter=0.1)
    a = crop_window(boxes, (100, 100), jitter=0.1, rng=np.random.default_rng(3))
    b = crop_window(boxes, (100, 100), jitter=0.1, rng=np.random.default_rng(3))
    assert a == b
