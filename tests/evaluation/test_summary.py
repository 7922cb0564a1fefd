import numpy as np
import pytest

from svhn_xai.evaluation.summary import summarise, versus_baselines
from svhn_xai.scoring.bootstrap import mean_interval, photo_weights, wilson_interval
from svhn_xai.scoring.metrics import BASELINES, BOX_ACC_GRID
from svhn_xai.scoring.registry import METRICS


def _row(value: float, hit: float = 1.0, iou_2: float = 0.6) -> dict:
    """A map's record with every per-map score at ``value`` (pointing game at ``hit``), and an
    IoU_2 curve that is ``iou_2`` at thresholds below 0.5, 0 above."""
    row = {k: value for k, m in METRICS.items() if m.family in ("mask", "threshold-free", "curve")}
    row.update(
        pointing_game=hit,
        pointing_game_tolerant=hit,
        oracle_threshold=0.5,
        curve_iou_1=[value] * 20,
        curve_iou_2=[value] * 20,
        faithfulness_curves={},
        iou_2_by_threshold=[iou_2 if t < 0.5 else 0.0 for t in BOX_ACC_GRID],
    )
    return row


def _records(values: list[tuple[int, float]], baseline: float = 0.3) -> list[dict]:
    """One record per (photo, value): the method scores ``value``, every baseline ``baseline``."""
    return [
        {
            "index": photo,
            "digit": n,
            "probability": 0.9,
            "methods": {"m": _row(v)},
            "baselines": {b: _row(baseline, hit=0.0, iou_2=0.2) for b in BASELINES},
        }
        for n, (photo, v) in enumerate(values)
    ]


def test_wilson_interval_by_hand():
    z2 = 1.959963984540054**2
    low, high = wilson_interval(1.0, 28)
    assert low == pytest.approx(28 / (28 + z2)) and high == pytest.approx(1.0)  # not ±0
    low, high = wilson_interval(0.5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(0.0, 5)[0] == 0.0 and wilson_interval(0.0, 5)[1] > 0.3


def test_bootstrap_resamples_photos_not_pairs():
    rng = np.random.default_rng(0)
    per_photo = rng.normal(size=40)
    values = np.repeat(per_photo, 2)  # two pairs of a photo move together
    photos = np.repeat(np.arange(40), 2)
    by_photo = np.diff(mean_interval(values, photo_weights(photos)))[0]
    by_pair = np.diff(mean_interval(values, photo_weights(np.arange(80))))[0]
    assert by_photo / by_pair == pytest.approx(np.sqrt(2), rel=0.15)
    # the interval over photos is the interval of the photos' means
    alone = np.diff(mean_interval(per_photo, photo_weights(np.arange(40))))[0]
    assert by_photo == pytest.approx(alone, rel=1e-9)
    # and it matches the normal approximation on a large sample
    wide = rng.normal(size=400)
    low, high = mean_interval(wide, photo_weights(np.arange(400)))
    half = 1.96 * wide.std(ddof=1) / np.sqrt(400)
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)


def test_summary_intervals_are_named_and_never_zero_for_a_share_of_all_hits():
    records = _records([(p, 0.4 + 0.01 * p) for p in range(10) for _ in range(2)])
    s = summarise(records, ["m"])
    row = s["methods"]["m"]
    assert "photos" in s["interval"] and row["n_photos"] == 10 and row["n"] == 20
    assert row["pointing_game"] == 1.0
    low, high = row["pointing_game_ci"]
    assert high == pytest.approx(1.0) and low == pytest.approx(wilson_interval(1.0, 10)[0])
    assert low < 0.8
    low, high = row["iou_1_ci"]
    assert low < row["iou_1"] < high
    assert all(f"{k}_ci" in row for k in ("iou_1", "pxap", "relevance_mass", "max_box_acc"))
    # every column the method gets, the baselines get
    for b in s["baselines"].values():
        assert set(row) - {"correct", "incorrect", "versus"} <= set(b)


def test_max_box_acc_over_a_set_at_its_best_threshold():
    s = summarise(_records([(p, 0.5) for p in range(8)]), ["m"])
    row = s["methods"]["m"]
    # IoU_2 0.6 below threshold 0.5: clears 0.3 and 0.5, not 0.7, for every pair
    assert row["max_box_acc"] == pytest.approx(2 / 3)
    assert row["max_box_acc_thresholds"]["0.3"] < 0.5
    low, high = row["max_box_acc_ci"]
    assert low < 2 / 3 <= high  # widened to at least Wilson's: never ±0
    assert s["baselines"]["whole_image"]["max_box_acc"] == 0.0


def test_beats_only_when_the_whole_interval_clears_the_strongest_baseline():
    baselines = {
        "whole_image": {"iou_1": 0.30, "seconds": 0.0},
        "centre_gaussian": {"iou_1": 0.45},
        "uniform_random": {"iou_1": 0.10},
    }
    clear = versus_baselines({"iou_1": 0.6, "iou_1_ci": [0.5, 0.7]}, baselines)["iou_1"]
    assert clear == {
        "baseline": "centre_gaussian",  # the strongest, not the whole-image map
        "baseline_mean": 0.45,
        "difference": pytest.approx(0.15),
        "beats": True,
    }
    straddles = versus_baselines({"iou_1": 0.5, "iou_1_ci": [0.4, 0.6]}, baselines)["iou_1"]
    assert straddles["beats"] is False and straddles["difference"] > 0
    # lower is better: the strongest is the smallest, and beating it means lying below it
    fast = versus_baselines({"seconds": 0.1, "seconds_ci": [0.05, 0.15]}, baselines)["seconds"]
    assert fast["baseline"] == "whole_image" and fast["beats"] is False


def test_summary_compares_each_method_with_the_strongest_baseline():
    records = _records([(p, 0.8) for p in range(12)], baseline=0.3)
    records[0]["baselines"]["centre_gaussian"]["iou_1"] = 0.9  # one photo lifts one baseline
    s = summarise(records, ["m"])
    versus = s["methods"]["m"]["versus"]["iou_1"]
    assert versus["baseline"] == "centre_gaussian"
    assert versus["baseline_mean"] == pytest.approx(0.3 + 0.6 / 12)
    assert versus["beats"] is True
