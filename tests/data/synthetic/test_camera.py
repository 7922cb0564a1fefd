import numpy as np
import pytest

from svhn_xai.data.synthetic.camera import (
    affine,
    homography,
    map_box,
    motion_blur,
    perspective,
    warp,
)


def test_homography_maps_the_four_points_it_was_solved_for():
    source = np.array([[0, 0], [10, 0], [10, 5], [0, 5]], dtype=float)
    target = np.array([[1, 2], [12, 1], [11, 7], [0, 6]], dtype=float)
    h = homography(source, target)
    moved = np.c_[source, np.ones(4)] @ h.T
    np.testing.assert_allclose(moved[:, :2] / moved[:, 2:], target, atol=1e-9)


def test_map_box_of_a_pure_shift_is_the_shifted_box():
    h = np.array([[1.0, 0, -3], [0, 1, 2], [0, 0, 1]])  # output (x, y) reads input (x-3, y+2)
    np.testing.assert_allclose(map_box(np.array([10, 10, 20, 30]), h), [13, 8, 23, 28])


@pytest.mark.parametrize("kind", ["affine", "perspective"])
@pytest.mark.parametrize("seed", range(6))
def test_a_box_carried_through_the_warp_bounds_what_was_inside_it(kind, seed):
    """A white rectangle warped at full strength: its pixels' bounds are the mapped box (to
    within the bilinear edge pixel)."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((60, 120))
    box = np.array([30, 15, 70, 45])
    canvas[15:45, 30:70] = 1.0
    h = (affine if kind == "affine" else perspective)(rng, (120, 60), strength=1.0)
    warped = warp(canvas, h)
    ys, xs = np.nonzero(warped > 0.5)
    measured = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    np.testing.assert_allclose(measured, map_box(box, h), atol=1.5)


def test_perspective_is_not_affine_and_zero_strength_is_the_identity():
    h = perspective(np.random.default_rng(3), (100, 50), strength=1.0)
    assert not np.allclose(h[2, :2], 0)  # a real homography: parallel edges converge
    still = perspective(np.random.default_rng(3), (100, 50), strength=0.0)
    np.testing.assert_allclose(still, np.eye(3), atol=1e-9)


def test_motion_blur_smears_along_its_direction_only():
    from PIL import Image

    array = np.zeros((21, 21, 3), dtype=np.uint8)
    array[10, 10] = 255
    smeared = np.asarray(motion_blur(Image.fromarray(array), 7, 0.0))[..., 0]
    rows, cols = np.nonzero(smeared)
    assert set(rows) == {10} and cols.min() == 7 and cols.max() == 13  # 7 px, horizontal
    assert abs(int(smeared.sum()) - 255) <= 7  # the light is spread, not lost
