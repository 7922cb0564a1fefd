"""Fault suite: bad input, crashes and hostile files each get a clear answer; nothing is lost."""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from svhn_xai.cli import run
from svhn_xai.data.image_io import load_rgb
from svhn_xai.errors import CheckpointError, ParameterError
from svhn_xai.explain import REGISTRY, count_hooks, explain
from svhn_xai.explain.cost import estimated_passes
from svhn_xai.model.checkpoint import card_path, load_checkpoint, load_model
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.train import main
from tests.faults import bad_images, odd_images
from tests.models import random_model

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("case", list(bad_images()))
def test_cli_refuses_bad_images_in_one_line(case, random_checkpoint, tmp_path, capsys):
    path = tmp_path / "upload.png"
    path.write_bytes(bad_images()[case])
    code = run(
        [
            "explain",
            "--image",
            str(path),
            "--box",
            "1,1,10,10",
            "--digit",
            "3",
            "--method",
            "saliency",
            "--checkpoint",
            str(random_checkpoint),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (case, err)


@pytest.mark.parametrize("case", list(odd_images()))
def test_cli_explains_odd_images(case, random_checkpoint, tmp_path, capsys):
    data = odd_images()[case]
    image = load_rgb(data)
    h, w = image.shape[:2]
    path = tmp_path / "upload.img"
    path.write_bytes(data)
    code = run(
        [
            "explain",
            "--image",
            str(path),
            "--box",
            f"0,0,{w},{h}",
            "--digit",
            "3",
            "--method",
            "saliency",
            "--checkpoint",
            str(random_checkpoint),
            "--json",
        ]
    )
    assert code == 0, case
    out = json.loads(capsys.readouterr().out)
    assert out["gt_boxes"] == [[0.0, 0.0, 64.0, 64.0]]


def test_exif_rotation_and_transparency_are_honoured():
    odd = odd_images()
    assert load_rgb(odd["EXIF-rotated JPEG"]).shape == (80, 40, 3)  # 80 x 40 turned upright
    rgba = load_rgb(odd["palette PNG with transparency"])
    assert rgba.shape == (40, 80, 3)


def test_checkpoint_without_its_card_still_loads(random_checkpoint, tmp_path):
    copy = tmp_path / "nocard.pt"
    copy.write_bytes(random_checkpoint.read_bytes())
    assert not card_path(copy).exists()
    model, card = load_model(copy)
    assert card["epoch"] == 0 and model.digits == tuple(range(10))


def test_init_from_another_input_size_is_refused(tmp_path, random_checkpoint, monkeypatch):
    monkeypatch.setenv("SVHN_XAI_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(
        train_size=16,
        test_size=8,
        epochs=1,
        batch_size=8,
        workers=1,
        input_size=48,
        init=str(random_checkpoint),
        out=str(tmp_path / "x.pt"),
    )
    with pytest.raises(CheckpointError, match="input size must match"):
        main(cfg)
    assert not (tmp_path / "x.pt").exists()


def test_constant_image_gives_empty_mask_not_nan():
    from svhn_xai.scoring.localisation import localise

    model = random_model(0)
    grey = np.full((64, 64, 3), 128, np.uint8)
    e = explain(model, grey, 3, "integrated_gradients", baseline="mean", n_steps=4)
    assert not e.attribution.any() and "zero everywhere" in e.notes[0]
    r = localise(e, np.array([[10, 10, 30, 30]]))
    assert r["empty_mask"] and r["iou_1"] == 0 and r["iou_2"] == 0
    assert all(np.isfinite(v) for v in (r["iou_1"], r["iou_2"], r["relevance_mass"]))


def _extreme_params(spec):
    """Each numeric parameter at its minimum and at its maximum, the rest cheap (and SmoothGrad
    switched on where a method has it, so that its parameters at their limits really run)."""
    cheap = {
        "superpixel": 32,
        "n_steps": 2,
        "n_baselines": 2,
        "batch_size": 2,
        "window": 32,
        "stride": 32,
        "n_masks": 16,
        "smooth": "smoothgrad",
        "smooth_samples": 2,
    }
    names = {p.name for p in spec.params}
    base = {k: v for k, v in cheap.items() if k in names}
    # samples at the method's own least (LIME's is 10, the others' 1): with SmoothGrad on, a
    # method runs them once per noisy copy, up to 256 copies
    base.update({p.name: p.low for p in spec.params if p.name == "n_samples"})
    for p in spec.params:
        if p.kind in ("int", "float"):
            for value in (p.low, p.high):
                yield {**base, p.name: value}


@pytest.mark.slow
@pytest.mark.parametrize("key", list(REGISTRY))
def test_every_parameter_at_its_limits_runs_or_is_refused(key):
    # a model of 32 px inputs (as --input-size 32 trains): a window or a superpixel at its
    # largest covers the whole input, and one pass per pixel is a quarter of 64 px's, each pass
    # a quarter of the work
    size = 32
    model = random_model(0, input_size=size)
    image = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    for params in _extreme_params(REGISTRY[key]):
        p = REGISTRY[key]
        # Up to one pass per pixel (Feature Ablation at superpixel 1) runs; beyond that (Shapley
        # at superpixel 1: 10,241 passes, LIME at 5,000 samples) only validation is checked, as
        # the app asks before running them.
        try:  # refused by its estimate or its run, with a message naming what is wrong
            if estimated_passes(key, params, size) > size * size + 1:
                assert all(
                    q.parse(params[q.name]) == params[q.name] for q in p.params if q.name in params
                )
                continue
            e = explain(model, image, 3, key, **params)
        except ParameterError as exc:
            assert any(name in str(exc) for name in params), (key, params, exc)
            continue
        assert np.isfinite(e.attribution).all(), (key, params)
        assert count_hooks(model) == 0
        for p_ in p.params:
            if p_.kind in ("int", "float"):
                with pytest.raises(ParameterError):
                    explain(model, image, 3, key, **{p_.name: p_.high * 2 + 1})
                break


def test_threads_get_their_own_results_from_one_shared_model():
    model = random_model(0)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    jobs = [
        (images[i], i + 1, m)
        for i, m in enumerate(["saliency", "lrp", "deep_lift", "integrated_gradients"])
    ]
    expected = [explain(model, im, d, m).attribution for im, d, m in jobs]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    results, errors = [None] * len(jobs), []

    def work(i):
        try:
            for _ in range(2):
                results[i] = explain(model, *jobs[i][:2], jobs[i][2]).attribution
        except Exception as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert count_hooks(model) == 0
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    """The uninterrupted run and the one to be killed go side by side, one thread each (the
    machine's two cores), each with its own image cache: the images are the same by seed."""
    args = ["--train-size", "96", "--test-size", "16", "--epochs", "3", "--batch-size", "16",
            "--input-size", "32", "--workers", "1", "--device", "cpu", "--seed", "7"]  # fmt: skip
    cmd = [sys.executable, "-m", "svhn_xai", "train", *args]

    def env(name: str) -> dict:
        return {**os.environ, "SVHN_XAI_CACHE": str(tmp_path / name), "OMP_NUM_THREADS": "1"}

    straight, broken = tmp_path / "straight.pt", tmp_path / "broken.pt"
    with (tmp_path / "straight.log").open("w") as log:  # a pipe nobody reads could fill up
        uninterrupted = subprocess.Popen([*cmd, "--out", str(straight)], cwd=REPO,
                                         env=env("straight"), stdout=log, stderr=log)  # fmt: skip
    proc = subprocess.Popen(
        [*cmd, "--out", str(broken)],
        cwd=REPO,
        env=env("broken"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stdout:  # the line comes once epoch 1 is on disk; epoch 2 is under way
        if line.startswith("epoch 1/3"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(broken)["epoch"] == 1
    resumed = subprocess.run(
        [*cmd, "--out", str(broken), "--resume"],
        cwd=REPO,
        env=env("broken"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    uninterrupted.wait(600)
    assert uninterrupted.returncode == 0, (tmp_path / "straight.log").read_text()[-2000:]
    a, b = load_checkpoint(straight), load_checkpoint(broken)
    assert b["epoch"] == 3
    for key, value in a["model_state"].items():
        torch.testing.assert_close(b["model_state"][key], value, rtol=1e-4, atol=1e-5)
    hist_a = [h["test"]["loss"] for h in a["metrics"]["history"]]
    hist_b = [h["test"]["loss"] for h in b["metrics"]["history"]]
    assert hist_b == pytest.approx(hist_a, rel=1e-4)
