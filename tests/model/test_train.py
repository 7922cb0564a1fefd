import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from svhn_xai.model.checkpoint import load_checkpoint, load_model
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.curves import curves_path
from svhn_xai.model.predict import score_tensors
from svhn_xai.model.run_data import load_tensors
from svhn_xai.model.train import main
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def _tiny(tmp_path: Path, **overrides) -> TrainConfig:
    values = dict(
        train_size=48,
        test_size=16,
        epochs=2,
        batch_size=16,
        workers=1,
        input_size=32,  # what these tests check holds at any size; 32 px trains 4x faster
        out=str(tmp_path / "run.pt"),
        seed=3,
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_training_writes_checkpoint_card_and_curves(tmp_path):
    epochs = []
    metrics = main(_tiny(tmp_path), on_epoch=epochs.append)
    assert [e["epoch"] for e in epochs] == [1, 2]
    ckpt = load_checkpoint(tmp_path / "run.pt")
    assert ckpt["epoch"] == 2 and len(ckpt["metrics"]["history"]) == 2
    assert set(ckpt["provenance"]["positive_rate"]) == {str(d) for d in range(10)}
    assert "optimizer_state" in ckpt and (tmp_path / "run.json").is_file()
    assert curves_path(tmp_path / "run.pt").stat().st_size > 1000
    assert 0 <= metrics["test"]["balanced_accuracy"] <= 1


def test_history_is_scored_in_float32_even_when_training_in_bf16(tmp_path):
    cfg = _tiny(tmp_path, amp="on", epochs=1)
    history = main(cfg)["history"]
    model, _ = load_model(cfg.out)
    rate = load_tensors(cfg, "synthetic", "train", None, 48, cfg.jitter).positive_rate()
    rate = rate.clip(1e-3, 1 - 1e-3)
    pos_weight = torch.tensor((1 - rate) / rate, dtype=torch.float32)
    test = load_tensors(cfg, "synthetic", "test", None, 16, 0.0)
    fp32 = score_tensors(model, test, model.digits, torch.device("cpu"), False, pos_weight)
    assert history[-1]["test"]["loss"] == pytest.approx(fp32["loss"], rel=1e-5)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    straight = tmp_path / "a"
    main(_tiny(straight))

    class Stop(Exception):
        pass

    def stop_after_first(record):
        raise Stop

    broken = tmp_path / "b"
    with pytest.raises(Stop):
        main(_tiny(broken), on_epoch=stop_after_first)
    assert load_checkpoint(broken / "run.pt")["epoch"] == 1
    main(_tiny(broken, resume=True))
    a = load_checkpoint(straight / "run.pt")
    b = load_checkpoint(broken / "run.pt")
    assert b["epoch"] == 2
    for key, value in a["model_state"].items():
        torch.testing.assert_close(b["model_state"][key], value, rtol=1e-4, atol=1e-5)


def test_single_digit_head_trains(tmp_path):
    main(_tiny(tmp_path, digits=(4,), epochs=1))
    ckpt = load_checkpoint(tmp_path / "run.pt")
    assert ckpt["architecture"]["digits"] == [4]
    assert list(ckpt["metrics"]["test"]["per_digit"]) == ["4"]


@pytest.mark.slow
def test_two_process_gloo_ranks_agree(tmp_path):
    env = {**os.environ, "SVHN_XAI_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",  # torchrun's port 0 leaves the workers waiting
        "-m",
        "svhn_xai",
        "train",
        "--train-size",
        "64",
        "--test-size",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--input-size",
        "32",
        "--workers",
        "1",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "ddp.pt"),
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = load_checkpoint(tmp_path / "ddp.pt")
    assert ckpt["provenance"]["world_size"] == 2
    assert ckpt["metrics"]["ddp_replicas_agree"] is True
    sums = ckpt["metrics"]["ddp_param_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]


@pytest.mark.slow
def test_wandb_online_without_server_falls_back_quickly(tmp_path, monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    from svhn_xai.model.tracking import Tracker

    tic = time.perf_counter()
    with pytest.warns(UserWarning, match="unreachable"):
        tracker = Tracker("online", {"lr": 1.0})
    tracker.log({"loss": 1.0}, step=1)
    tracker.finish()
    assert tracker.mode in ("offline", "disabled")
    assert time.perf_counter() - tic < 60


def _fine_tuning(tmp_path, **changes) -> TrainConfig:
    """One epoch on fixture photos 1-4, scored on 5-12, with ``changes`` to what is mixed in."""
    fixtures = REPO / "tests" / "fixtures" / "svhn"
    return _tiny(tmp_path, data="svhn", root=str(fixtures), split="train", indices="0:4",
                 test_split="train", test_indices="4:12", epochs=1, **changes)  # fmt: skip


def test_fine_tuning_mixes_synthetic_images_with_repeated_photos(tmp_path):
    cfg = _fine_tuning(tmp_path, mix_synthetic=8)
    main(cfg)
    ckpt = load_checkpoint(tmp_path / "run.pt")
    assert ckpt["provenance"]["n_train"] == 4 * 2 + 8  # four photos twice, eight synthetic
    assert ckpt["metrics"]["test"]["n_images"] == 8


def test_fine_tuning_cards_its_start_and_command_without_server_paths(tmp_path, monkeypatch):
    start = REPO / "checkpoints" / "default.pt"
    monkeypatch.setattr(sys, "argv", [str(REPO / "benchmarks" / "real_cv.py"), "--keep"])
    monkeypatch.delitem(sys.modules, "__main__")
    main(_fine_tuning(tmp_path, init=str(start), input_size=64))  # the shipped model's size
    card = load_checkpoint(tmp_path / "run.pt")["provenance"]
    assert card["init"]["checkpoint"] == "checkpoints/default.pt"
    assert card["init"]["provenance"] == load_checkpoint(start)["provenance"]  # its own card
    assert card["command"] == "python benchmarks/real_cv.py --keep"


def test_recomposed_digits_and_the_generators_options_join_the_mix_and_the_card(tmp_path):
    from svhn_xai.model.run_data import load_data

    options = dict(typefaces="extended", real_backgrounds=True, perspective=True, motion_blur=True)
    cfg = _fine_tuning(tmp_path, mix_synthetic=4, mix_recomposed=6, **options)
    plain = load_tensors(_tiny(tmp_path), "synthetic", "train", None, 4, cfg.jitter)
    mixed = load_data(cfg).train
    assert len(mixed) == 4 * 3 + 4 + 6  # four photos three times, as many as the ten added
    assert not torch.equal(mixed.images[12:16], plain.images)  # drawn in the options
    test = load_tensors(cfg, "synthetic", "test", None, 4, 0.0)  # scored on plain images
    assert torch.equal(
        test.images, load_tensors(_tiny(tmp_path), "synthetic", "test", None, 4, 0.0).images
    )
    main(cfg)
    card = load_checkpoint(cfg.out)["provenance"]
    assert card["n_train"] == 22 and card["mix_recomposed"] == 6
    assert card["synthetic_style"] == options


def test_shortcut_is_a_data_source_option_recorded_in_the_card(tmp_path):
    cfg = _tiny(tmp_path, shortcut="3:0.9", epochs=1)
    plain = load_tensors(_tiny(tmp_path), "synthetic", "test", None, 16, 0.0)
    cued = load_tensors(cfg, "synthetic", "test", None, 16, 0.0)
    # same photos and labels; only the images with the cue differ
    assert torch.equal(plain.presence, cued.presence)
    assert not torch.equal(plain.images, cued.images)
    main(cfg)
    card = load_checkpoint(cfg.out)["provenance"]["cue"]
    assert card["digit"] == 3 and card["rate"] == 0.9 and card["jitter"] == cfg.jitter


def test_shortcut_on_real_photos_is_refused(tmp_path):
    from svhn_xai.errors import ParameterError
    from svhn_xai.model.run_data import load_data

    with pytest.raises(ParameterError, match="synthetic"):
        load_data(_tiny(tmp_path, data="svhn", root=str(tmp_path), shortcut="3"))
