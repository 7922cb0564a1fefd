"""The split-half benchmark's summary: medians, gaps and verdicts by hand."""

import pytest

from benchmarks.split_half import summary

ROWS = [  # three photos: split-half close to the reference, the second draw further away
    {"split_half": 0.95, "split_half_again": 0.93, "second_draw": 0.85,
     "second_draw_again": 0.97, "reference": 0.94},
    {"split_half": 0.88, "split_half_again": 0.90, "second_draw": 0.92,
     "second_draw_again": 0.86, "reference": 0.89},
    {"split_half": 0.70, "split_half_again": 0.74, "second_draw": 0.80,
     "second_draw_again": 0.60, "reference": 0.72},
]  # fmt: skip


def test_summary_by_hand():
    s = summary(ROWS)
    assert s["photos"] == 3
    assert s["split_half"]["median"] == pytest.approx(0.88)
    assert s["reference"]["median"] == pytest.approx(0.89)
    # |0.95-0.94|, |0.88-0.89|, |0.70-0.72| -> median 0.01; second draw 0.09, 0.03, 0.08 -> 0.08
    assert s["split_half"]["gap_to_reference"] == pytest.approx(0.01)
    assert s["second_draw"]["gap_to_reference"] == pytest.approx(0.08)
    # run to run: 0.02, 0.02, 0.04 -> 0.02; second draw 0.12, 0.06, 0.20 -> 0.12
    assert s["split_half"]["run_to_run"] == pytest.approx(0.02)
    assert s["second_draw"]["run_to_run"] == pytest.approx(0.12)
    # verdicts at 0.9 against the reference's (stable, not, not): split-half 3 of 3, second
    # draw 1 (0.85 calls the first photo's stable map unstable; 0.92 the second's stable)
    assert s["split_half"]["same_verdict"] == 3
    assert s["second_draw"]["same_verdict"] == 1
