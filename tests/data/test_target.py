import numpy as np
import pytest

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.target import (
    crop_window,
    marked_photo_input,
    to_model_input,
    transform_boxes,
    union_box,
    window_to_photo,
)


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


def test_marked_photo_is_cropped_to_the_union_of_all_digits():
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    # a "1" at x 40-60 and a "7" at x 60-100, both y 20-60: union 40..100 x 20..60 (60 x 40)
    boxes = [[40, 20, 60, 60], [60, 20, 100, 60]]
    model_input = marked_photo_input(image, boxes, (1, 7), size=64, margin=0.15)
    # grown 15 % per side: 9 px sideways, 6 px up and down -- the same window whichever digit
    assert model_input.window == (31, 14, 109, 66)
    assert model_input.item.labels == (1, 7)
    assert model_input.item.boxes_of(7).shape == (1, 4)
    back = window_to_photo(model_input.item.boxes, model_input.window, 64)
    np.testing.assert_allclose(back, boxes, atol=1e-9)


def test_marked_photo_without_boxes_or_crop_is_the_whole_photo():
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    assert marked_photo_input(image, np.zeros((0, 4)), (), size=64).window == (0, 0, 80, 40)
    cropless = marked_photo_input(image, [[20, 10, 40, 30]], (3,), size=64, crop=False)
    assert cropless.window == (0, 0, 80, 40)
    assert cropless.item.boxes.tolist() == [[16.0, 16.0, 32.0, 48.0]]


@pytest.mark.parametrize(
    "boxes, labels, message",
    [
        ([[10, 10, 5, 20]], (1,), "x0 < x1"),
        ([[100, 10, 120, 20]], (1,), "outside"),
        ([[1, 1, 5, 5]], (1, 2), "labels"),
    ],
)
def test_marked_photo_refuses_bad_boxes(boxes, labels, message):
    with pytest.raises(ValueError, match=message):
        marked_photo_input(np.zeros((40, 80, 3), np.uint8), boxes, labels)
