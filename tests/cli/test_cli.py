import json
import subprocess
import sys
from pathlib import Path

import pytest

from svhn_xai.cli import run

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "svhn"


def test_test_command_json_on_real_images(random_checkpoint, capsys):
    code = run(
        [
            "test",
            "--data",
            "svhn",
            "--root",
            str(FIXTURES),
            "--split",
            "train",
            "--checkpoint",
            str(random_checkpoint),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_images"] == 12
    assert set(out["per_digit"]) == {str(d) for d in range(10)}
    for scores in out["per_digit"].values():
        assert set(scores) >= {"balanced_accuracy", "precision", "recall", "positives"}
    assert out["per_digit"]["1"]["positives"] == 4  # four of the twelve photos hold a 1


def test_missing_checkpoint_is_one_line_exit_2(tmp_path, capsys):
    code = run(["test", "--checkpoint", str(tmp_path / "nope.pt")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: checkpoint") and err.count("\n") == 1


def test_missing_data_folder(random_checkpoint, tmp_path, capsys):
    code = run(
        ["test", "--data", "svhn", "--root", str(tmp_path), "--checkpoint", str(random_checkpoint)]
    )
    assert code == 2 and "download it" in capsys.readouterr().err


def test_unknown_digit_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        run(["train", "--target-digit", "12"])
    assert info.value.code == 2 and "not a digit" in capsys.readouterr().err


def test_module_entry_point_prints_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "svhn_xai", "test", "--checkpoint", str(tmp_path / "x.pt")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "not found" in done.stderr


def test_calibration_overlap_is_found_across_several_slices_and_a_limit():
    from svhn_xai.data.indices import overlap as _overlap

    assert _overlap("0:64,128:192", "64:128", None) is False  # a fold's training photos
    assert _overlap("0:64,128:192", "100:140", None) is True
    assert _overlap("0:10", None, None) is True
    assert _overlap("50:60", "0:10,40:", 25) is True  # the 25 evaluated: 0-9 and 40-54
    assert _overlap("50:60", "0:10,40:", 20) is False  # 0-9 and 40-49


def test_calibrating_on_the_photos_a_model_trained_on_is_refused(tmp_path, capsys):
    from tests.models import random_model, write_checkpoint

    trained = {"data": "svhn", "split": "train", "indices": "0:4"}
    ckpt = write_checkpoint(tmp_path / "tuned.pt", random_model(2), provenance=trained)
    common = ["calibrate", "--data", "svhn", "--root", str(FIXTURES), "--split", "train",
              "--methods", "saliency", "--checkpoint", str(ckpt), "--quiet", "--json"]  # fmt: skip
    assert run([*common, "--indices", "3:5"]) == 2
    assert "this model was trained on" in capsys.readouterr().err
    assert not (tmp_path / "tuned.calibration.json").exists()
    assert run([*common, "--indices", "4:6"]) == 0  # photos it never saw
    made = json.loads((tmp_path / "tuned.calibration.json").read_text())
    assert made["indices"] == "4:6" and made["n_pairs"] >= 2
