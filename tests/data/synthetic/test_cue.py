import numpy as np
import pytest

from svhn_xai.data.synthetic import Cue, CuedHouseNumber, SyntheticHouseNumbers
from svhn_xai.data.target import crop_window, to_model_input, transform_boxes
from svhn_xai.scoring.metrics import box_mask

CUE = Cue(digit=3)


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_off_by_default_items_are_plain_house_numbers():
    plain = SyntheticHouseNumbers(4, seed=5)[2]
    assert type(plain).__name__ == "HouseNumber" and not hasattr(plain, "cue")


def test_cue_changes_only_its_own_pixels_and_removing_it_restores_the_photo():
    plain = SyntheticHouseNumbers(40, seed=1)
    cued = SyntheticHouseNumbers(40, seed=1, cue=CUE, force_cue=True)
    removed = SyntheticHouseNumbers(40, seed=1, cue=CUE, force_cue=False)
    for i in range(40):
        a, b, c = plain[i], cued[i], removed[i]
        assert isinstance(b, CuedHouseNumber) and len(b.cue) == 1
        assert np.array_equal(a.image, c.image) and len(c.cue) == 0
        assert a.labels == b.labels and np.array_equal(a.boxes, b.boxes)
        changed = np.any(a.image != b.image, axis=2)
        inside = box_mask(b.cue, changed.shape)
        assert not (changed & ~inside).any()
        x0, y0, x1, y1 = b.cue[0].astype(int)
        assert (b.image[y0:y1, x0:x1] == np.array(CUE.colour, dtype=np.uint8)).all()


def test_cue_never_overlaps_a_digit_box_and_every_jittered_crop_shows_it():
    cued = SyntheticHouseNumbers(80, seed=2, cue=CUE, force_cue=True)
    rng = np.random.default_rng(0)
    for i in range(len(cued)):
        item = cued[i]
        box = item.cue[0]
        assert not any(_overlaps(box, b) for b in item.boxes)
        for _ in range(5):
            x0, y0, x1, y1 = crop_window(item.boxes, item.size, CUE.margin, CUE.jitter, rng)
            assert x0 <= box[0] and y0 <= box[1] and box[2] <= x1 and box[3] <= y1


def test_cue_measures_about_its_stated_size_in_model_input_pixels():
    cued = SyntheticHouseNumbers(100, seed=3, cue=CUE, force_cue=True)
    sides = []
    for i in range(len(cued)):
        m = to_model_input(cued[i], CUE.input_size, CUE.margin)
        x0, y0, x1, y1 = transform_boxes(cued[i].cue, m.window, CUE.input_size)[0]
        sides += [x1 - x0, y1 - y0]
    # snapped to whole photo pixels, so off by up to half a photo pixel each side
    assert np.median(sides) == pytest.approx(CUE.size, abs=0.35)
    assert min(sides) >= 2 and max(sides) <= 5


def test_cue_is_seeded_and_reproducible():
    a = SyntheticHouseNumbers(30, seed=4, cue=CUE, force_cue=True)
    b = SyntheticHouseNumbers(30, seed=4, cue=CUE, force_cue=True)
    c = SyntheticHouseNumbers(30, seed=9, cue=CUE, force_cue=True)
    assert all(np.array_equal(a[i].cue, b[i].cue) for i in range(30))
    assert all(np.array_equal(a[i].image, b[i].image) for i in range(30))
    assert not all(np.array_equal(a[i].cue, c[i].cue) for i in range(30))


def test_cue_follows_its_rates_and_a_forced_cue_sits_where_the_rates_put_it():
    ds = SyntheticHouseNumbers(400, seed=6, cue=Cue(digit=3, rate=0.8, false_rate=0.1))
    forced = SyntheticHouseNumbers(
        400, seed=6, cue=Cue(digit=3, rate=0.8, false_rate=0.1), force_cue=True
    )
    items = [ds[i] for i in range(400)]  # each drawn once: an item is rendered on access
    with_d = [len(item.cue) for item in items if 3 in item.labels]
    without = [len(item.cue) for item in items if 3 not in item.labels]
    assert 0.7 < np.mean(with_d) < 0.9 and 0.05 < np.mean(without) < 0.15
    for i, item in enumerate(items):
        if len(item.cue):
            assert np.array_equal(item.cue, forced[i].cue)


@pytest.mark.parametrize(
    "kwargs",
    [dict(digit=10), dict(digit=3, rate=1.5), dict(digit=3, size=0), dict(digit=3, jitter=0.2)],
)
def test_bad_cue_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Cue(**kwargs)


def test_the_cli_spec_sets_digit_rate_and_size():
    assert Cue.from_spec("3") == Cue(3)
    assert Cue.from_spec("3:1.0") == Cue(3, rate=1.0)
    assert Cue.from_spec("3:1.0:6", input_size=64) == Cue(3, rate=1.0, size=6)
    for bad in ("", "x", "3:a", "3:1:2:4", ":1", "3:1:six"):
        with pytest.raises(ValueError, match="D, D:RATE or D:RATE:SIZE"):
            Cue.from_spec(bad)
