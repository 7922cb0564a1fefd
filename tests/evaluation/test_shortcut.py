import json

import numpy as np
import pytest
import torch

from svhn_xai.cli import run
from svhn_xai.data.synthetic import Cue
from svhn_xai.errors import CheckpointError
from svhn_xai.evaluation.shortcut import (
    _rate_ci,
    checkpoint_cue,
    cue_accuracy,
    cue_scores,
    cued_examples,
    head_probability,
    lab_images,
    method_records,
    summarise,
)
from svhn_xai.explain import REGISTRY
from svhn_xai.explain.registry import ONE_PASS, register
from svhn_xai.scoring.metrics import box_mask
from tests.models import random_model, write_checkpoint

CUE = Cue(digit=3, rate=0.9, false_rate=0.1)
CUE_BOX = np.array([10.0, 20.0, 13.0, 23.0])  # 3x3 pixels: columns 10-12, rows 20-22
DIGIT_BOX = np.array([[30.0, 10.0, 40.0, 30.0]])


def test_all_relevance_on_the_cue():
    r = np.zeros((64, 64))
    r[20:23, 10:13] = 1.0
    assert cue_scores(r, CUE_BOX, DIGIT_BOX) == {
        "cue_mass": 1.0,
        "digit_mass": 0.0,
        "cue_pointing": 1.0,
    }


def test_shares_count_positive_relevance_only_and_the_peak_decides_pointing():
    r = np.full((64, 64), -5.0)  # negative evidence everywhere counts for nothing
    r[21, 11] = 3.0  # on the cue
    r[15, 35] = 1.0  # on the digit
    r[50, 50] = 4.0  # elsewhere, and the maximum
    s = cue_scores(r, CUE_BOX, DIGIT_BOX)
    assert s["cue_mass"] == pytest.approx(3 / 8)
    assert s["digit_mass"] == pytest.approx(1 / 8)
    assert s["cue_pointing"] == 0.0


def test_a_tie_for_the_maximum_splits_the_pointing_score():
    r = np.zeros((64, 64))
    r[20, 10] = r[0, 0] = 2.0
    assert cue_scores(r, CUE_BOX, DIGIT_BOX)["cue_pointing"] == 0.5


def test_a_map_without_positive_relevance_scores_zero():
    s = cue_scores(-np.ones((64, 64)), CUE_BOX, DIGIT_BOX)
    assert s == {"cue_mass": 0.0, "digit_mass": 0.0, "cue_pointing": 0.0}


def test_summary_catches_a_cue_share_far_above_the_reference():
    rng = np.random.default_rng(0)
    ours = [{"cue_mass": 0.4 + 0.05 * rng.random(), "digit_mass": 0.2, "cue_pointing": 1.0}] * 8
    ref = [{"cue_mass": 0.02 + 0.01 * rng.random(), "digit_mass": 0.5, "cue_pointing": 0.0}] * 8
    caught = summarise(ours, ref)
    assert caught["catches"] and caught["cue_pointing"] == 1.0
    assert caught["reference_digit_mass"] == 0.5 and caught["n"] == 8
    assert not summarise(ref, ref)["catches"]
    assert not summarise(ours, ours)["catches"]
    # far above the reference's share, the interval above 0, but below chance: not caught
    assert summarise(ours, ref, chance=0.3)["catches"]
    assert not summarise(ours, ref, chance=0.5)["catches"]


def test_a_non_finite_map_is_left_out_and_counted_not_scored_as_not_caught():
    """A method whose map puts all its relevance on the cue for the shortcut model, and none
    for the reference, catches the shortcut; one NaN map among four must not hide that (its
    NaN cue mass made the mean NaN, and a NaN mean is never caught)."""
    images = cued_examples(CUE, 4)
    shortcut, reference = random_model(0), random_model(1)
    calls = iter(range(len(images)))  # images come in order, each once per model

    @register(
        "_on_the_cue",
        "On the cue",
        "gradient",
        "the cue box, NaN on the first image",
        cost=ONE_PASS,
    )
    def _on_the_cue(ctx):
        if ctx.model is reference:
            return torch.ones_like(ctx.x)  # a flat map: the cue's share of the image
        i = next(calls)
        if i == 0:
            return torch.full_like(ctx.x, float("nan"))
        on_cue = box_mask(images[i].cue_box.reshape(1, 4), ctx.x.shape[-2:])
        return torch.from_numpy(on_cue).to(ctx.x.dtype).expand_as(ctx.x).clone()

    try:
        ours = method_records(shortcut, images, CUE.digit, ["_on_the_cue"])["_on_the_cue"]
        theirs = method_records(reference, images, CUE.digit, ["_on_the_cue"])["_on_the_cue"]
    finally:
        REGISTRY.pop("_on_the_cue")
    assert ours[0] == {"non_finite": True} and not any("non_finite" in r for r in theirs)
    s = summarise(ours, theirs)
    assert s["n"] == 3 and s["n_non_finite"] == 1 and s["reference_n_non_finite"] == 0
    assert s["cue_mass"] == 1.0 and s["cue_pointing"] == 1.0
    shares = [box_mask(im.cue_box.reshape(1, 4), (64, 64)).mean() for im in images[1:]]
    assert s["reference_cue_mass"] == pytest.approx(np.mean(shares))  # the same 3 images
    assert s["catches"]
    # with every map non-finite nothing is counted, so nothing is caught
    nothing = summarise([{"non_finite": True}] * 3, theirs[:3])
    assert nothing["n"] == 0 and nothing["n_non_finite"] == 3 and not nothing["catches"]


def test_rate_interval_is_wilson():
    r = _rate_ci(np.array([False] * 10))
    assert r["rate"] == 0 and r["low"] == pytest.approx(0, abs=1e-12)
    assert r["high"] == pytest.approx(0.2775, abs=1e-4)
    assert _rate_ci(np.array([True, False]))["rate"] == 0.5


class CueReader(torch.nn.Module):
    """A model that sees nothing but the cue: head D says "present" iff a magenta pixel shows."""

    digits = tuple(range(10))

    def __init__(self) -> None:
        super().__init__()
        self.unit = torch.nn.Parameter(torch.ones(1))

    def head(self, digit: int) -> int:
        return digit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        magenta = (x[:, 0] + x[:, 2]) / 2 - x[:, 1]
        seen = (magenta.flatten(1).amax(1) > 0.55).float() * 20 - 10
        return seen[:, None].repeat(1, 10) * self.unit


def test_accuracy_of_a_model_that_reads_only_the_cue():
    reader = CueReader()

    def sees(im, variant):
        return head_probability(reader, [im.images[variant]], 3)[0] > 0.5

    # a few synthetic plates are magenta themselves: keep the photos where the reader is a
    # perfect cue detector, so that the answers below are exact
    images = [
        im for im in lab_images(CUE, 60) if sees(im, "cue_pasted") and not sees(im, "cue_removed")
    ]
    assert len(images) > 40
    acc = cue_accuracy(reader, CUE, images)
    d = np.array([im.presence[3] > 0 for im in images])
    cued = np.array([im.has_cue for im in images])
    expected = ((cued & d).sum() / d.sum() + (~cued & ~d).sum() / (~d).sum()) / 2
    assert acc["with_cue"] == pytest.approx(expected)
    assert acc["cue_removed"] == 0.5  # says "absent" everywhere
    assert acc["cue_pasted"] == 1.0 and acc["false_positive_rate"] == 0.0
    assert acc["is_shortcut"] == (expected - 0.5 >= 0.1)


def test_cued_examples_show_the_digit_and_the_cue_off_its_boxes():
    for im in cued_examples(CUE, 5):
        assert im.has_cue and im.presence[3] == 1 and len(im.digit_boxes)
        changed = np.any(im.images["with_cue"] != im.images["cue_removed"], axis=2)
        assert changed.any()
        assert np.array_equal(im.images["with_cue"], im.images["cue_pasted"])


def test_a_checkpoint_without_a_cue_is_refused():
    with pytest.raises(CheckpointError, match="--shortcut"):
        checkpoint_cue({"provenance": {}}, "default.pt")


def test_shortcut_command_prints_the_issue_keys(tmp_path, capsys):
    path = write_checkpoint(
        tmp_path / "s.pt", random_model(), provenance={"cue": Cue(digit=3).to_dict()}
    )
    code = run(
        [
            "shortcut",
            "--checkpoint",
            str(path),
            "--reference",
            str(path),
            "--methods",
            "saliency,input_x_gradient",
            "--limit",
            "2",
            "--accuracy-images",
            "12",
            "--quiet",
            "--json",
            "--out",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["digit"] == 3
    assert {"with_cue", "cue_removed", "cue_pasted"} <= set(out["accuracy"])
    assert set(out["methods"]) == {"saliency", "input_x_gradient"}
    for m in out["methods"].values():
        assert {"cue_mass", "digit_mass", "cue_pointing", "reference_cue_mass"} <= set(m)
        # the reference is the same model here: nothing can be caught
        assert m["cue_mass"] == pytest.approx(m["reference_cue_mass"]) and not m["catches"]
    assert set(out["baselines"]) == {"whole_image", "centre_gaussian", "uniform_random"}
    assert len(out["provenance"]["checkpoint"]["sha256"]) == 64
    assert json.loads((tmp_path / "r.json").read_text())["digit"] == 3


def test_shortcut_command_on_a_model_without_a_cue_is_one_line(tmp_path, capsys):
    path = write_checkpoint(tmp_path / "plain.pt", random_model())
    assert run(["shortcut", "--checkpoint", str(path), "--limit", "1", "--quiet"]) == 2
    assert "--shortcut" in capsys.readouterr().err
