import json
from pathlib import Path

import torch

from svhn_xai.cli import run
from svhn_xai.model.checkpoint import card_path, load_checkpoint, load_model, save_checkpoint
from tests.models import random_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "svhn" / "train"


def test_export_halves_weights_and_measures_its_own_card(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SVHN_XAI_CACHE", str(tmp_path / "cache"))
    m = random_model(0)
    score = {"loss": 0.5, "balanced_accuracy": 0.75}
    src = tmp_path / "run.pt"
    save_checkpoint(
        src,
        {
            "architecture": m.architecture(),
            "model_state": m.state_dict(),
            "optimizer_state": {"state": {}, "param_groups": []},
            "epoch": 4,
            "config": {"margin": 0.15},
            "metrics": {"history": [{"epoch": 1, **{k: score for k in ("train", "test")}}]},
            "provenance": {"data": "synthetic"},
        },
    )
    out = tmp_path / "default.pt"
    code = run(
        [
            "export",
            str(src),
            "--out",
            str(out),
            "--real-eval",
            str(FIXTURES),
            "--real-eval-indices",
            "6:12",
            "--synthetic-size",
            "32",
            "--json",
        ]
    )
    assert code == 0
    ckpt = load_checkpoint(out)
    assert "optimizer_state" not in ckpt
    assert all(
        v.dtype == torch.float16 for v in ckpt["model_state"].values() if v.is_floating_point()
    )
    assert out.stat().st_size < src.stat().st_size * 0.6
    card = json.loads(card_path(out).read_text())
    assert card["metrics"]["test"]["n_images"] == 32
    assert card["metrics"]["real"]["n_images"] == 6 and card["metrics"]["real"]["indices"] == "6:12"
    assert card["provenance"]["export"]["command"].startswith("python -m svhn_xai export")
    assert (tmp_path / "default.curves.png").stat().st_size > 1000  # the card's curves beside it
    model, _ = load_model(out)
    reported = json.loads(capsys.readouterr().out)["synthetic_balanced_accuracy"]
    assert reported == card["metrics"]["test"]["balanced_accuracy"]
    assert model.digits == tuple(range(10))
    # the test command, at its defaults, reproduces the card's score (no bf16 by default)
    args = ["test", "--data", "svhn", "--root", str(FIXTURES.parent), "--split", "train"]
    assert run([*args, "--indices", "6:12", "--checkpoint", str(out), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    for key in ("balanced_accuracy", "loss"):
        assert scored[key] == card["metrics"]["real"][key], key


def test_slim_keeps_the_weights_in_half_precision_and_drops_the_optimizer(tmp_path):
    from svhn_xai.model.export import slim

    m = random_model(1)
    src = tmp_path / "runs" / "a" / "resume.pt"
    metrics = {"history": [{"epoch": 1}], "test": {"balanced_accuracy": 0.75}}
    save_checkpoint(
        src,
        {
            "architecture": m.architecture(),
            "model_state": m.state_dict(),
            "optimizer_state": {"state": {}, "param_groups": []},
            "scheduler_state": {},
            "epoch": 1,
            "config": {"margin": 0.15},
            "metrics": metrics,
            "provenance": {"data": "synthetic"},
        },
    )
    slim(src, tmp_path / "a.pt")
    out = load_checkpoint(tmp_path / "a.pt")
    assert "optimizer_state" not in out and "scheduler_state" not in out
    assert out["metrics"] == metrics and out["epoch"] == 1
    assert out["provenance"]["data"] == "synthetic"
    assert out["provenance"]["export"] == {
        "source": "resume.pt",  # no server path
        "half_precision": True,
        "metrics": "measured during training, on the float32 weights",
    }
    for key, value in m.state_dict().items():
        if value.is_floating_point():
            assert out["model_state"][key].dtype == torch.float16
            torch.testing.assert_close(out["model_state"][key], value.half())
    model, _ = load_model(tmp_path / "a.pt")
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(model(x), m(x), atol=0.05, rtol=0.05)


def test_export_of_a_shortcut_model_measures_its_cue(tmp_path, monkeypatch):
    from svhn_xai.data.synthetic import Cue
    from svhn_xai.model.export import export
    from tests.models import write_checkpoint

    monkeypatch.setenv("SVHN_XAI_CACHE", str(tmp_path / "cache"))
    src = write_checkpoint(
        tmp_path / "run.pt", random_model(0), provenance={"cue": Cue(digit=5).to_dict()}
    )
    metrics = export(src, tmp_path / "shortcut-5.pt", synthetic_size=12)
    card = json.loads(card_path(tmp_path / "shortcut-5.pt").read_text())
    shortcut = card["metrics"]["shortcut"]
    assert shortcut == metrics["shortcut"]
    assert {"with_cue", "cue_removed", "cue_pasted", "false_positive_rate"} <= set(shortcut)
    assert shortcut["n_images"] == 12
