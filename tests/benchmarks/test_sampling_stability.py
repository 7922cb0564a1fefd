"""The sampling methods' defaults are the stability benchmark's choice, by a rule that holds."""

import json
from pathlib import Path

import pytest

from benchmarks.sampling_stability import PREVIOUS_DEFAULTS, TIE, choose, refine
from svhn_xai.explain import REGISTRY

RESULTS = Path(__file__).resolve().parents[2] / "results" / "sampling_stability.json"


def _point(params: dict, seconds: float, rho: float, pxap: float, high: float) -> dict:
    """A measured point whose ρ interval is narrow: it holds where its median reaches 0.9."""
    return {"params": params, "seconds": seconds, "rho": rho, "rho_ci": [rho, rho + 0.02],
            "pxap": pxap, "pxap_ci": [pxap - 0.1, high]}  # fmt: skip


@pytest.mark.parametrize("method", list(PREVIOUS_DEFAULTS))
def test_the_registry_defaults_are_the_benchmarks_choice(method):
    entry = json.loads(RESULTS.read_text())["methods"][method]
    chosen = {**PREVIOUS_DEFAULTS[method], **choose(entry)}
    defaults = {p.name: p.default for p in REGISTRY[method].params}
    assert {name: defaults[name] for name in chosen} == chosen


def test_choose_takes_the_fastest_setting_that_holds_without_losing_the_digit():
    before = _point({"n": 1}, 1.0, 0.1, 0.80, 0.85)
    entry = {
        "previous_default": before,
        "curve": [before, _point({"n": 8}, 8.0, 0.95, 0.80, 0.85)],
        "levers": {
            "unstable": {"curve": [_point({"n": 2, "x": 1}, 2.0, 0.85, 0.80, 0.85)]},
            "off the digit": {"curve": [_point({"n": 2, "x": 2}, 2.0, 0.97, 0.60, 0.75)]},
            "too slow": {"curve": [_point({"n": 64, "x": 3}, 10.5, 0.99, 0.90, 0.95)]},
            "coarse": {"curve": [_point({"n": 4, "x": 4}, 4.0, 0.91, 0.72, 0.81)]},
        },
    }
    assert choose(entry) == {"n": 4, "x": 4}
    entry["levers"].pop("coarse")
    assert choose(entry) == {"n": 8}
    entry["curve"].pop()
    assert choose(entry) == {"n": 2, "x": 2}, "no stable map keeps the digit: the stable one"
    entry["levers"].pop("off the digit")
    assert choose(entry) == {"n": 2, "x": 1}, "none holds: the most stable in time"


def test_a_median_above_the_bar_whose_interval_reaches_below_it_does_not_hold():
    """0.91 on these photos, but an interval down to 0.86: the photos do not support a median
    of 0.9, and the slower setting whose whole interval clears it is taken."""
    before = _point({"n": 1}, 1.0, 0.1, 0.80, 0.85)
    lucky = {**_point({"n": 2}, 2.0, 0.91, 0.80, 0.85), "rho_ci": [0.86, 0.93]}
    sure = {**_point({"n": 4}, 4.0, 0.93, 0.80, 0.85), "rho_ci": [0.90, 0.95]}
    entry = {"previous_default": before, "curve": [before, lucky, sure], "levers": {}}
    assert choose(entry) == {"n": 4}
    sure["rho_ci"] = [0.89, 0.95]
    assert choose(entry) == {"n": 4}, "none holds: the most stable"
    sure["rho"] = 0.905
    assert choose(entry) == {"n": 2}, "none holds: the most stable"


def test_times_within_run_to_run_noise_are_a_tie_that_the_fewest_changes_win():
    """Two settings as fast as each other within ``TIE``: the one that keeps more of the
    previous defaults is taken; further apart, the faster one, however many it changes."""
    before = _point({"n": 1, "x": 0, "y": 0}, 1.0, 0.1, 0.80, 0.85)
    fewer = _point({"n": 8, "x": 1, "y": 0}, 2.0, 0.95, 0.80, 0.85)
    more = _point({"n": 8, "x": 1, "y": 1}, 2.0 / (1 + TIE / 2), 0.95, 0.80, 0.85)
    entry = {"parameter": "n", "previous_default": before, "curve": [before],
             "levers": {"x": {"curve": [fewer]}, "x and y": {"curve": [more]}}}  # fmt: skip
    assert choose(entry) == fewer["params"]
    more["seconds"] = 2.0 / (1 + 2 * TIE)
    assert choose(entry) == more["params"]
    # a larger budget alone is no change: it wins the tie against a change at the old budget
    larger = _point({"n": 16, "x": 0, "y": 0}, 2.1, 0.95, 0.80, 0.85)
    other = _point({"n": 1, "x": 1, "y": 0}, 2.0, 0.95, 0.80, 0.85)
    entry = {"parameter": "n", "previous_default": before, "curve": [before, larger],
             "levers": {"x": {"curve": [other]}}}  # fmt: skip
    assert choose(entry) == larger["params"]


def test_the_choice_is_made_on_more_photos_for_every_setting_it_could_fall_on():
    """Screened on a few photos, the cheapest setting that held (A) fails on more; one that
    fell just short (B) holds there and is taken; one far short (D) is never tried, nor one
    slower than B's tie window (C). The previous default is measured again first, so that
    PxAP and time are compared on the same photos."""
    before = _point({"n": 1}, 1.0, 0.1, 0.80, 0.85)
    screened = {
        "A": _point({"n": 2}, 1.0, 0.92, 0.80, 0.85),
        "B": _point({"n": 3}, 1.1, 0.87, 0.80, 0.85),
        "C": _point({"n": 4}, 2.0, 0.95, 0.80, 0.85),
        "D": _point({"n": 5}, 0.5, 0.80, 0.80, 0.85),
    }
    on_more = {1: 0.12, 2: 0.88, 3: 0.91, 4: 0.95, 5: 0.99}
    entry = {"parameter": "n", "previous_default": before, "curve": [dict(before)],
             "levers": {k: {"curve": [p]} for k, p in screened.items()}}  # fmt: skip
    assert choose(entry) == {"n": 2}, "on the screening photos alone"
    measured = []

    def measure(params):
        measured.append(params["n"])
        return {**_point(params, 1.05, on_more[params["n"]], 0.78, 0.83), "passes": 1,
                "photos": 24}  # fmt: skip

    assert refine(entry, measure) == 2
    assert measured == [1, 2, 3]
    assert before["photos"] == 24 and before["pxap"] == 0.78
    assert choose(entry) == {"n": 3}
    assert screened["A"]["rho"] == 0.88 and screened["A"]["photos"] == 24


def test_where_none_keeps_its_pxap_every_candidate_is_measured_again():
    """No re-measured point both holds and keeps its PxAP: any slower candidate might, so all
    are measured again, and a stable one is taken if none does."""
    before = _point({"n": 1}, 1.0, 0.1, 0.80, 0.85)
    fast = _point({"n": 2}, 1.0, 0.95, 0.60, 0.70)
    slow = _point({"n": 3}, 3.0, 0.95, 0.60, 0.70)
    entry = {"parameter": "n", "previous_default": before, "curve": [dict(before)],
             "levers": {"fast": {"curve": [fast]}, "slow": {"curve": [slow]}}}  # fmt: skip

    def measure(params):
        pxap = 0.80 if params == before["params"] else 0.60
        return {**_point(params, 1.0 * params["n"], 0.95, pxap, pxap + 0.1), "passes": 1,
                "photos": 24}  # fmt: skip

    assert refine(entry, measure) == 2
    assert choose(entry) == {"n": 2}
