import json

import numpy as np
import pytest
import torch

from svhn_xai import evaluate as ev
from svhn_xai.cli import run
from svhn_xai.data.synthetic import SyntheticHouseNumbers
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import REGISTRY
from svhn_xai.explain.base import register
from svhn_xai.explain.references import gaussian_blur
from svhn_xai.provenance import file_sha256
from tests.models import random_model


@pytest.fixture(scope="module")
def model():
    return random_model(1)


@pytest.fixture(scope="module")
def items():
    source = SyntheticHouseNumbers(3, seed=5)
    return [to_model_input(source[i], 64).item for i in range(3)]


def test_mean_ci_by_hand():
    stats = ev.mean_ci([1.0, 2.0, 3.0])
    assert stats["mean"] == 2.0 and stats["n"] == 3
    assert stats["ci95"] == pytest.approx(1.96 * 1.0 / np.sqrt(3))


def test_deletion_and_insertion_end_points(model, items):
    item = items[0]
    x = torch.from_numpy(item.image.copy()).permute(2, 0, 1).float().div(255)[None]
    heat = np.random.default_rng(0).random((64, 64))
    curves = ev.deletion_insertion(model, item.image, heat, digit=3, steps=4)
    head = model.head(3)
    with torch.no_grad():
        p = lambda t: float(torch.sigmoid(model(t)[0, head]))  # noqa: E731
        assert curves["deletion"][0] == pytest.approx(p(x), abs=1e-5)
        assert curves["deletion"][-1] == pytest.approx(p(torch.zeros_like(x)), abs=1e-5)
        assert curves["insertion"][0] == pytest.approx(p(gaussian_blur(x, 8)), abs=1e-5)
        assert curves["insertion"][-1] == pytest.approx(p(x), abs=1e-5)
    assert len(curves["fractions"]) == 5


def test_resume_reuses_records_and_survives_a_cut_line(model, items, tmp_path, monkeypatch):
    partial = tmp_path / "run.partial.jsonl"
    first = ev.evaluate_localisation(model, items, ["saliency"], limit=2, partial=partial)
    lines = partial.read_text().splitlines()
    assert len(lines) == first["n_pairs"]
    partial.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # interrupted mid-write
    calls = []
    real = ev.image_record
    monkeypatch.setattr(ev, "image_record", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    again = ev.evaluate_localisation(model, items, ["saliency"], limit=2, partial=partial)
    assert len(calls) == 1  # only the pair whose line was cut is computed again
    assert again["methods"]["saliency"]["iou_1"] == pytest.approx(
        first["methods"]["saliency"]["iou_1"]
    )


def test_summary_keys_and_baselines(model, items):
    s = ev.evaluate_localisation(model, items, ["saliency", "occlusion"], digits=None)
    assert s["n_images"] == 3 and s["n_pairs"] == sum(len(set(i.labels)) for i in items)
    for key in ("saliency", "occlusion"):
        row = s["methods"][key]
        assert {"iou_1", "iou_2", "pointing_game", "seconds_per_image", "auc_deletion"} <= set(row)
        assert row["correct"]["n"] + row["incorrect"]["n"] == s["n_pairs"]
    assert set(s["baselines"]) == {"whole_image", "centre_gaussian", "uniform_random"}


def test_randomisation_flags_a_model_independent_map(model, items):
    @register("_edges", "Edges", "gradient", "image gradient magnitude: ignores the model")
    def _edges(ctx):
        return torch.abs(torch.diff(ctx.x, dim=-1, prepend=ctx.x[..., :1]))

    try:
        pairs = [(i.image, i.labels[0]) for i in items[:2]]
        result = ev.randomisation_check(model, pairs, ["_edges", "saliency"])
    finally:
        REGISTRY.pop("_edges")
    assert result["methods"]["_edges"]["flagged"]
    assert result["methods"]["_edges"]["correlation"] == pytest.approx([1.0] * 6)
    assert len(result["methods"]["saliency"]["correlation"]) == 6


def test_evaluate_command_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("svhn_xai.checkpoint.DEFAULT_CHECKPOINT", tmp_path / "absent.pt")
    from svhn_xai.checkpoint import save_checkpoint

    m = random_model(2)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, {"architecture": m.architecture(), "model_state": m.state_dict(),
                           "epoch": 0, "config": {}, "metrics": {}})  # fmt: skip
    out = tmp_path / "ev.json"
    code = run(["evaluate", "--limit", "2", "--methods", "saliency", "--sanity", "1",
                "--checkpoint", str(ckpt), "--json", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    assert data["n_images"] == 2
    assert {"iou_1", "iou_2", "pointing_game", "seconds_per_image"} <= set(
        data["methods"]["saliency"]
    )
    assert "whole_image" in data["baselines"] and "sanity" in data
    assert data["provenance"]["checkpoint"]["sha256"] == file_sha256(ckpt)
    assert data["provenance"]["machine"]["cores"] >= 1
    assert "baseline whole_image" in capsys.readouterr().out
