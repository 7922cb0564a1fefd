import dataclasses
import json

import numpy as np
import pytest
import torch

from svhn_xai.cli import run
from svhn_xai.data.synthetic import SyntheticHouseNumbers
from svhn_xai.data.target import to_model_input
from svhn_xai.evaluation import run as ev
from svhn_xai.evaluation import sanity
from svhn_xai.evaluation.records import pair_records
from svhn_xai.evaluation.resume import ResumeMismatch
from svhn_xai.evaluation.run import EvaluationOptions as Options
from svhn_xai.explain import REGISTRY
from svhn_xai.explain.references import gaussian_blur
from svhn_xai.explain.registry import ONE_PASS, register
from svhn_xai.provenance import file_sha256
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL, Protocol
from tests.models import random_model


@pytest.fixture(scope="module")
def model():
    return random_model(1)


@pytest.fixture(scope="module")
def items():
    source = SyntheticHouseNumbers(3, seed=5)
    return [to_model_input(source[i], 64).item for i in range(3)]


def test_deletion_and_insertion_end_points_for_both_imputations(model, items):
    from svhn_xai.scoring.faithfulness import deletion_insertion

    item = items[0]
    x = torch.from_numpy(item.image.copy()).permute(2, 0, 1).float().div(255)[None]
    heat = np.random.default_rng(0).random((64, 64))
    head = model.head(3)
    with torch.no_grad():
        p = lambda t: float(torch.sigmoid(model(t)[0, head]))  # noqa: E731
        for kind, filler in (("black", torch.zeros_like(x)), ("blur", gaussian_blur(x, 8))):
            curves = deletion_insertion(model, x, heat, 3, kind, steps=4)
            assert curves["deletion"][0] == pytest.approx(p(x), abs=1e-5)
            assert curves["deletion"][-1] == pytest.approx(p(filler), abs=1e-5)
            assert curves["insertion"][0] == pytest.approx(p(filler), abs=1e-5)
            assert curves["insertion"][-1] == pytest.approx(p(x), abs=1e-5)
            assert len(curves["fractions"]) == 5


def test_resume_reuses_records_and_survives_a_cut_line(model, items, tmp_path, monkeypatch):
    partial = tmp_path / "run.partial.jsonl"
    options = Options(["saliency"], limit=2, steps=2)
    first = ev.run_evaluation(model, items, options, partial=partial)
    lines = partial.read_text().splitlines()
    assert len(lines) == first["n_pairs"] + 1  # a header line with the conditions
    partial.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # interrupted mid-write
    calls = []
    real = ev.pair_records
    monkeypatch.setattr(ev, "pair_records", lambda *a, **k: calls.extend(a[1]) or real(*a, **k))
    again = ev.run_evaluation(model, items, options, partial=partial)
    assert len(calls) == 1  # only the pair whose line was cut is computed again
    assert again["methods"]["saliency"]["iou_1"] == pytest.approx(
        first["methods"]["saliency"]["iou_1"]
    )


def test_summary_keys_and_baselines(model, items):
    s = ev.run_evaluation(model, items, Options(["saliency", "occlusion"], digits=None, steps=2))
    assert s["n_images"] == 3 and s["n_pairs"] == sum(len(set(i.labels)) for i in items)
    for key in ("saliency", "occlusion"):
        row = s["methods"][key]
        assert {"iou_1", "iou_2", "pointing_game", "seconds_per_image", "rank_accuracy"} <= set(row)
        assert row["correct"]["n"] + row["incorrect"]["n"] == s["n_pairs"]
    assert set(s["baselines"]) == {"whole_image", "centre_gaussian", "uniform_random"}
    # every column a method gets, the baselines get (bar the time it took)
    for baseline in s["baselines"].values():
        columns = {
            k for k in s["methods"]["saliency"] if k not in ("correct", "incorrect", "versus")
        }
        assert columns - {"seconds", "seconds_ci", "seconds_per_image"} <= set(baseline)
    assert s["directions"]["auc_deletion_black"] == "lower"
    assert s["directions"]["auc_insertion_blur"] == "higher"
    assert s["directions"]["iou_1"] == "higher" and "road_morf" not in s["directions"]
    # the settings each row was made at, defaults filled in
    assert s["method_params"]["occlusion"] == {
        "window": 12, "stride": 4, "baseline": "black", "perturbations_per_eval": 64,
        "precision": "float32"}  # fmt: skip
    assert set(s["method_params"]) == {"saliency", "occlusion"}


def test_resume_refuses_another_checkpoint_or_protocol_saying_what_differs(model, items, tmp_path):
    partial = tmp_path / "run.partial.jsonl"
    options = Options(["saliency"], limit=1, steps=2)
    ev.run_evaluation(model, items, options, partial=partial, checkpoint_sha256="aa")
    with pytest.raises(ResumeMismatch, match="checkpoint_sha256: 'aa' then, 'bb' now"):
        ev.run_evaluation(model, items, options, partial=partial, checkpoint_sha256="bb")
    with pytest.raises(ResumeMismatch, match="protocol"):
        ev.run_evaluation(
            model, items, Options(["saliency"], protocol=Protocol("topk", 5.0), limit=1, steps=2),
            partial=partial, checkpoint_sha256="aa",
        )  # fmt: skip


def _moved(monkeypatch, key: str, name: str, default) -> None:
    """Move ``key``'s default of ``name`` to ``default``, as a later commit would."""
    spec = REGISTRY[key]
    params = tuple(dataclasses.replace(p, default=default) if p.name == name else p
                   for p in spec.params)  # fmt: skip
    monkeypatch.setitem(REGISTRY, key, dataclasses.replace(spec, params=params))


def test_a_moved_default_makes_its_method_again_and_keeps_the_others(
    model, items, tmp_path, monkeypatch
):
    """Records made before Occlusion's default moved are not read as Occlusion's; Saliency's
    are reused as they are, and the file is rewritten under the new settings, so a second
    resume reuses everything."""
    partial = tmp_path / "run.partial.jsonl"
    options = Options(["saliency", "occlusion"], limit=2, steps=2, sanity=1)
    _moved(monkeypatch, "occlusion", "stride", 12)  # the defaults of the day: 26 passes a map
    first = ev.run_evaluation(model, items, options, partial=partial, checkpoint_sha256="aa")
    _moved(monkeypatch, "occlusion", "window", 16)
    made, checked = [], []
    real, real_check = ev.pair_records, ev.randomisation_check
    monkeypatch.setattr(ev, "pair_records", lambda *a, **k: made.append(a[2]) or real(*a, **k))
    monkeypatch.setattr(
        ev, "randomisation_check", lambda *a, **k: checked.append(a[2]) or real_check(*a, **k)
    )
    again = ev.run_evaluation(model, items, options, partial=partial, checkpoint_sha256="aa")
    assert made and all(methods == ("occlusion",) for methods in made)
    assert checked == [["occlusion"]]
    assert again["methods"]["saliency"] == first["methods"]["saliency"]
    assert again["sanity"]["methods"]["saliency"] == first["sanity"]["methods"]["saliency"]
    fresh = ev.run_evaluation(model, items, options)  # the moved default, from scratch
    for metric in ("iou_1", "pxap", "auc_deletion_black"):
        assert again["methods"]["occlusion"][metric] == pytest.approx(
            fresh["methods"]["occlusion"][metric]
        )
    assert again["methods"]["occlusion"]["pxap"] != first["methods"]["occlusion"]["pxap"]
    header = json.loads(partial.read_text().splitlines()[0])["conditions"]
    assert header["params"]["occlusion"]["window"] == 16
    made.clear(), checked.clear()
    ev.run_evaluation(model, items, options, partial=partial, checkpoint_sha256="aa")
    assert made == [] and checked == []


def test_non_finite_maps_are_counted_and_left_out(model, items):
    @register("_nan", "NaN", "gradient", "a map with a NaN in it", cost=ONE_PASS)
    def _nan(ctx):
        out = torch.ones_like(ctx.x)
        out[..., 0, 0] = float("nan")
        return out

    try:
        s = ev.run_evaluation(model, items[:1], Options(["_nan", "saliency"], steps=2))
    finally:
        REGISTRY.pop("_nan")
    row = s["methods"]["_nan"]
    assert row["n"] == 0 and row["n_non_finite"] == s["n_pairs"] and "iou_1" not in row
    assert s["methods"]["saliency"]["n_non_finite"] == 0


def test_spearman_uses_average_ranks_for_ties():
    """Two independent maps that are 90 % zeros: ranking ties by position made them look
    correlated (0.62 with argsort ranks); with average ranks they are not."""
    rng = np.random.default_rng(0)
    a, b = np.zeros(4096), np.zeros(4096)
    a[rng.choice(4096, 410, replace=False)] = rng.random(410)
    b[rng.choice(4096, 410, replace=False)] = rng.random(410)
    assert abs(sanity.spearman(a, b)) < 0.05
    assert sanity.spearman(a, a) == pytest.approx(1.0)
    assert np.isnan(sanity.spearman(np.ones(10), np.arange(10)))  # a constant map has no ranking
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731
    assert np.corrcoef(ranks(a), ranks(b))[0, 1] > 0.5  # what the old code reported


def test_randomisation_reaches_every_parameter_the_stem_batchnorm_included(model):
    import copy

    scrambled = copy.deepcopy(model)
    torch.manual_seed(0)
    for name in sanity.RANDOMISATION_ORDER:
        sanity.randomise(getattr(scrambled, name))
    before = dict(model.named_parameters()) | dict(model.named_buffers())
    after = dict(scrambled.named_parameters()) | dict(scrambled.named_buffers())
    unchanged = [
        k for k, v in before.items()
        if v.dtype.is_floating_point and torch.equal(v, after[k])
    ]  # fmt: skip
    assert unchanged == []
    assert "bn1" in sanity.RANDOMISATION_ORDER


def test_randomisation_flags_a_model_independent_map(model, items):
    @register(
        "_edges", "Edges", "gradient", "image gradient magnitude: ignores the model", cost=ONE_PASS
    )
    def _edges(ctx):
        return torch.abs(torch.diff(ctx.x, dim=-1, prepend=ctx.x[..., :1]))

    try:
        pairs = [(i.image, i.labels[0]) for i in items[:2]]
        result = sanity.randomisation_check(model, pairs, ["_edges", "saliency"])
    finally:
        REGISTRY.pop("_edges")
    assert result["methods"]["_edges"]["flagged"]
    layers = len(sanity.RANDOMISATION_ORDER)
    assert result["methods"]["_edges"]["correlation"] == pytest.approx([1.0] * layers)
    assert len(result["methods"]["saliency"]["correlation"]) == layers


def test_evaluate_command_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("svhn_xai.model.checkpoint.DEFAULT_CHECKPOINT", tmp_path / "absent.pt")
    from svhn_xai.model.checkpoint import save_checkpoint

    m = random_model(2)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, {"architecture": m.architecture(), "model_state": m.state_dict(),
                           "epoch": 0, "config": {}, "metrics": {}})  # fmt: skip
    out = tmp_path / "ev.json"
    code = run(["evaluate", "--limit", "2", "--methods", "saliency", "--sanity", "1", "--steps",
                "4", "--checkpoint", str(ckpt), "--json", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    assert data["n_images"] == 2
    curve = data["methods"]["saliency"]["faithfulness_curves"]["black"]
    assert curve["fractions"] == [0.0, 0.25, 0.5, 0.75, 1.0]  # --steps 4
    assert {"iou_1", "iou_2", "pointing_game", "seconds_per_image"} <= set(
        data["methods"]["saliency"]
    )
    assert "whole_image" in data["baselines"] and "sanity" in data
    assert data["provenance"]["checkpoint"]["sha256"] == file_sha256(ckpt)
    assert data["provenance"]["machine"]["cores"] >= 1
    assert "baseline whole_image" in capsys.readouterr().out
    assert data["protocol"] == DEFAULT_PROTOCOL.to_dict()  # no flags: the default rule
    assert data["checkpoint_sha256"] == file_sha256(ckpt)
    assert data["commit"] and data["command"].startswith("python -m svhn_xai evaluate")
    assert {"cpu", "cores", "torch"} <= set(data["machine"])
    assert data["directions"]["iou_1"] == "higher"
    # the same --json resumed with another checkpoint: refused in one line, exit 2
    m2 = random_model(3)
    save_checkpoint(ckpt, {"architecture": m2.architecture(), "model_state": m2.state_dict(),
                           "epoch": 0, "config": {}, "metrics": {}})  # fmt: skip
    (tmp_path / "ev.partial.jsonl").write_text(
        json.dumps({"conditions": {"checkpoint_sha256": "0" * 64}}) + "\n"
    )
    code = run(["evaluate", "--limit", "2", "--methods", "saliency", "--sanity", "0",
                "--checkpoint", str(ckpt), "--json", str(out), "--quiet", "--resume"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "checkpoint_sha256" in err and len(err.strip().splitlines()) == 1


def test_calibrating_on_the_evaluated_images_is_refused(random_checkpoint, capsys):
    code = run(["evaluate", "--checkpoint", str(random_checkpoint), "--indices", "0:10",
                "--calibrate-on", "synthetic:test", "--calibrate-indices", "5:20",
                "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "overlap" in err


def test_batched_evaluation_equals_one_pair_at_a_time(model, items):
    methods = ["saliency", "occlusion", "gradient_shap"]
    # GradientShap's points are drawn per pair: the same draws either way; Occlusion at 26
    # passes a map, batched all the same
    params = {"gradient_shap": {"n_samples": 16}, "occlusion": {"stride": 12}}
    alone = ev.run_evaluation(model, items, Options(methods, params=params, steps=2, batch_size=1))
    batched = ev.run_evaluation(
        model, items, Options(methods, params=params, steps=2, batch_size=4)
    )
    assert batched["n_pairs"] == alone["n_pairs"] > 4  # more pairs than one batch holds
    for key in methods:
        for score in ("iou_1", "iou_2", "relevance_mass", "auc_deletion_black"):
            assert batched["methods"][key][score] == pytest.approx(
                alone["methods"][key][score], abs=1e-4
            ), (key, score)
    assert batched["batch_size"] == 4 and batched["processes"] == 1


def test_without_curves_the_localisation_scores_are_the_same(model, items):
    full = ev.run_evaluation(model, items, Options(["saliency"], steps=2))
    bare = ev.run_evaluation(model, items, Options(["saliency"], steps=2, faithfulness="none"))
    assert bare["methods"]["saliency"]["iou_1"] == full["methods"]["saliency"]["iou_1"]
    assert "auc_deletion_black" not in bare["methods"]["saliency"]
    assert bare["faithfulness"] == []


def test_the_cli_batches_as_the_library_does_and_refuses_a_batch_of_none(capsys):
    from svhn_xai.cli import build_parser

    assert build_parser().parse_args(["evaluate"]).batch_size == ev.BATCH_SIZE
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--batch-size", "0"])
    assert "must be at least 1" in capsys.readouterr().err


class _Counted:
    """A source that counts how often each item is read; ``labels(i)`` only if ``named``."""

    def __init__(self, items, named: bool) -> None:
        self.items, self.reads = items, [0] * len(items)
        if named:
            self.labels = lambda i: items[i].labels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        self.reads[i] += 1
        return self.items[i]


def test_each_photo_is_read_once_whatever_its_pairs_and_batches(model):
    source = SyntheticHouseNumbers(6, seed=3)
    items = [to_model_input(source[i], 64).item for i in range(6)]
    assert any(len(set(item.labels)) > 1 for item in items), "a photo with several pairs"
    runs = []
    for named in (False, True):
        for batch_size in (1, 2, 16):
            counted = _Counted(items, named)
            options = Options(["saliency"], batch_size=batch_size, faithfulness="none")
            runs.append(ev.run_evaluation(model, counted, options))
            assert counted.reads == [1] * 6, (named, batch_size)
    for r in runs:  # the same scores, to float rounding (batched passes sum in another order)
        for key in ("iou_1", "iou_2", "relevance_mass"):
            assert r["methods"]["saliency"][key] == pytest.approx(
                runs[0]["methods"]["saliency"][key], abs=1e-6
            )


@pytest.mark.parametrize("calibrated", [None, {"saliency": 7.0, "whole_image": 40.0}])
def test_evaluate_scores_each_pair_as_localise_does(model, items, calibrated):
    """The leaderboard's per-pair numbers are localise's on the same map and rule, calibrated
    or not: one scoring, whichever front end asks."""
    from svhn_xai.explain import explain
    from svhn_xai.scoring.calibration import Calibration
    from svhn_xai.scoring.localisation import localise
    from svhn_xai.scoring.protocol import Protocol

    rule = Protocol("topk", 20.0, 2.0)
    pairs = [(i, item, d) for i, item in enumerate(items[:2]) for d in sorted(set(item.labels))]
    records = pair_records(model, pairs, ["saliency"], rule, calibrated=calibrated, steps=2)
    calibration = Calibration(rule, calibrated, "00" * 32) if calibrated else None
    keys = ("iou_1", "iou_2", "max_box_acc", "pxap", "pointing_game", "relevance_mass",
            "rank_accuracy", "active_fraction")  # fmt: skip
    for record, (_, item, digit) in zip(records, pairs):
        e = explain(model, item.image, digit, "saliency")
        expected = localise(e, item.boxes_of(digit), rule, calibration=calibration)
        for key in keys:
            assert record["methods"]["saliency"][key] == pytest.approx(expected[key]), key
            for name, b in expected["baselines"].items():
                assert record["baselines"][name][key] == pytest.approx(b[key]), (name, key)
    if calibrated:  # the calibrated values reached the masks
        assert records[0]["methods"]["saliency"]["active_fraction"] == pytest.approx(0.07, 1e-3)
        assert records[0]["baselines"]["whole_image"]["active_fraction"] == pytest.approx(0.4, 1e-3)
        assert records[0]["baselines"]["centre_gaussian"]["active_fraction"] == pytest.approx(
            0.2, abs=1e-3
        )


def test_a_moved_calibrated_threshold_makes_its_method_again_a_baselines_refuses(
    model, items, tmp_path, monkeypatch
):
    partial = tmp_path / "run.partial.jsonl"
    values = {"saliency": 20.0, "occlusion": 20.0, "whole_image": 20.0}
    options = Options(["saliency", "occlusion"], limit=1, steps=2, calibrated=values)
    ev.run_evaluation(model, items, options, partial=partial, checkpoint_sha256="aa")
    made = []
    real = ev.pair_records
    monkeypatch.setattr(ev, "pair_records", lambda *a, **k: made.append(a[2]) or real(*a, **k))
    moved = dataclasses.replace(options, calibrated={**values, "occlusion": 10.0})
    ev.run_evaluation(model, items, moved, partial=partial, checkpoint_sha256="aa")
    assert made == [("occlusion",)]
    baseline = dataclasses.replace(options, calibrated={**values, "whole_image": 10.0})
    with pytest.raises(ResumeMismatch, match="calibrated of whole_image"):
        ev.run_evaluation(model, items, baseline, partial=partial, checkpoint_sha256="aa")
