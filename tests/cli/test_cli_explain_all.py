"""`explain --digit all` and `explain --contrast` on a fixture photo holding "23"."""

import json
from pathlib import Path

import pytest

from svhn_xai.cli import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "svhn"
SOURCE = ["--data", "svhn", "--root", str(FIXTURES), "--split", "train", "--index", "1"]


def test_explain_all_digits_json(random_checkpoint, capsys):
    argv = ["explain", *SOURCE, "--digit", "all", "--method", "saliency", "--json"]
    assert run([*argv, "--checkpoint", str(random_checkpoint)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["checkpoint"] == random_checkpoint.name  # outside the repository: its name only
    assert list(out["digits"]) == [str(d) for d in range(10)]
    for d, r in out["digits"].items():
        assert r["digit"] == int(d) and 0 <= r["probability"] <= 1
        assert r["scored"] == (d in ("2", "3"))
        if r["scored"]:
            assert 0 <= r["iou_1"] <= 1 and r["pointing_game"] in (0.0, 1.0)
    cs = out["class_sensitivity"]
    assert cs["pairs"] == 2 and cs["score"] in (0.0, 0.5, 1.0)
    assert cs["score"] == sum(o["win"] for o in cs["outcomes"]) / 2
    assert "higher is better" in cs["direction"]


def test_explain_all_digits_on_a_photo_with_labelled_boxes(random_checkpoint, capsys):
    # 2.png holds "23": the 2 at x 77-100, the 3 at x 98-124 (photo pixels)
    photo = str(FIXTURES / "train" / "2.png")
    boxes = ["--box", "77,29,100,61:2", "--box", "98,25,124,57:3"]
    argv = ["explain", "--image", photo, *boxes, "--digit", "all", "--method", "saliency"]
    assert run([*argv, "--checkpoint", str(random_checkpoint), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [d for d, r in out["digits"].items() if r["scored"]] == ["2", "3"]
    assert out["class_sensitivity"]["pairs"] == 2
    # the same photo from the dataset (its annotation boxes are these) gives the same scores
    assert run(["explain", *SOURCE, "--digit", "all", "--method", "saliency", "--json",
                "--checkpoint", str(random_checkpoint)]) == 0  # fmt: skip
    dataset = json.loads(capsys.readouterr().out)
    assert out["class_sensitivity"]["score"] == dataset["class_sensitivity"]["score"]
    assert run([*argv[:-2], "--box", "77,29,100,61", "--method", "saliency",
                "--checkpoint", str(random_checkpoint)]) == 2  # fmt: skip
    assert "needs its label" in capsys.readouterr().err


def test_explain_all_digits_text(random_checkpoint, capsys):
    argv = ["explain", *SOURCE, "--digit", "all", "--method", "saliency"]
    assert run([*argv, "--checkpoint", str(random_checkpoint)]) == 0
    text = capsys.readouterr().out
    assert text.count("not in the photo") == 8 and "class sensitivity" in text


def test_explain_contrast_json(random_checkpoint, capsys):
    argv = ["explain", *SOURCE, "--digit", "3", "--contrast", "8", "--method", "saliency"]
    assert run([*argv, "--checkpoint", str(random_checkpoint), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["contrast"] == 8 and out["digit"] == 3 and out["scored"]
    assert run(["explain", *SOURCE, "--digit", "3", "--method", "saliency", "--json",
                "--checkpoint", str(random_checkpoint)]) == 0  # fmt: skip
    plain = json.loads(capsys.readouterr().out)
    assert "contrast" not in plain
    assert plain["probability"] == pytest.approx(out["probability"])
    assert plain["logit"] != pytest.approx(out["logit"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--digit", "3", "--contrast", "3"], "contrast"),
        (["--digit", "all", "--contrast", "8"], "--contrast"),
    ],
)
def test_explain_refuses_bad_combinations(random_checkpoint, capsys, extra, message):
    argv = ["explain", *SOURCE, *extra, "--method", "saliency"]
    assert run([*argv, "--checkpoint", str(random_checkpoint)]) != 0
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (["--smooth", "0"], {"mode": "topk", "value": 20.0, "sigma": 0.0}),
        (["--smooth", "1.5"], {"mode": "topk", "value": 20.0, "sigma": 1.5}),
        (
            ["--threshold-mode", "value", "--threshold", "0.3", "--smooth", "0"],
            {"mode": "value", "value": 0.3, "sigma": 0.0},
        ),
    ],
)
def test_explain_all_scores_every_head_under_the_rule_asked_for(
    random_checkpoint, capsys, rule, expected
):
    """Each head of --digit all is scored as --digit D alone is, under the same mask rule (it
    once scored every head at the default sigma 3, whatever --smooth said)."""
    common = [*SOURCE, "--method", "saliency", *rule, "--json"]
    assert run(["explain", *common, "--digit", "all", "--checkpoint", str(random_checkpoint)]) == 0
    heads = json.loads(capsys.readouterr().out)["digits"]
    scored = {d: r for d, r in heads.items() if r["scored"]}
    assert list(scored) == ["2", "3"]
    for r in heads.values():
        assert r["protocol"] == expected
    assert run(["explain", *common, "--digit", "3", "--checkpoint", str(random_checkpoint)]) == 0
    alone = json.loads(capsys.readouterr().out)
    for key in ("iou_1", "iou_2", "active_fraction", "threshold"):
        assert scored["3"][key] == pytest.approx(alone[key]), key


def test_the_shipped_checkpoint_is_named_by_its_path_in_the_repository(capsys):
    argv = ["explain", "--data", "synthetic", "--index", "0", "--digit", "all"]
    assert run([*argv, "--method", "saliency", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"] == "checkpoints/default.pt"
