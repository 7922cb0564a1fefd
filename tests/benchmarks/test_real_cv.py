import sys
from pathlib import Path

import pytest

from benchmarks import real_cv


def test_a_baseline_trained_on_the_development_photos_is_refused(monkeypatch, capsys, tmp_path):
    """The shipped model trained on photos 1-192: scored on their folds it would look better
    than any lever for having seen them."""
    out = tmp_path / "cv.json"
    shipped = Path(__file__).resolve().parents[2] / "checkpoints" / "default.pt"
    argv = ["real_cv", "--baseline", str(shipped), "--levers", "none", "--final", "none",
            "--out", str(out)]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        real_cv.main()
    assert exit_.value.code == 2 and not out.exists()
    assert "trained on photos 0:192, which overlap --dev 0:192" in capsys.readouterr().err
