import json
from pathlib import Path

import numpy as np
import torch

from svhn_xai.cli import run
from svhn_xai.model.tta import VIEWS, predict_tta, views

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "svhn"


def test_the_first_view_is_the_crop_and_a_shift_moves_the_content_by_its_fraction():
    x = torch.zeros(1, 1, 50, 50)
    x[0, 0, :, 25] = 1.0  # a bright column
    out = views(x)
    assert out.shape == (len(VIEWS), 1, 1, 50, 50)
    torch.testing.assert_close(out[0], x)
    right = VIEWS.index((0.04, 0.0, 1.0))  # 4 % of 50 px: the content moves 2 px left
    assert out[right, 0, 0, 10].argmax().item() == 23
    down = VIEWS.index((0.0, 0.04, 1.0))
    torch.testing.assert_close(out[down], x)  # a column does not move vertically


def test_a_zoomed_view_enlarges_about_the_centre():
    x = torch.zeros(1, 1, 50, 50)
    x[0, 0, :, 15] = 1.0  # 10 px left of the centre (25)
    zoom_in = views(x)[VIEWS.index((0.0, 0.0, 1.06))]
    assert abs(zoom_in[0, 0, 25].argmax().item() - 14.4) <= 1  # 10.6 px from the centre


class _Spot(torch.nn.Module):
    """A 'model' that reads one pixel: its logit is the red value at (row 10, column 30)."""

    digits = (0,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0, 10, 30] * 8 - 4)[:, None]


def test_predict_tta_is_the_mean_of_each_views_probability():
    images = torch.randint(0, 256, (3, 3, 50, 50), dtype=torch.uint8)
    model = _Spot()
    x = images.float() / 255
    expected = torch.sigmoid(torch.stack([model(v) for v in views(x)])).mean(0)
    got = predict_tta(model, images, torch.device("cpu"))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-6)
    plain = torch.sigmoid(model(x)).numpy()
    assert not np.allclose(got, plain)  # random pixels: the views disagree


def test_test_tta_reports_beside_the_plain_score_which_it_leaves_alone(random_checkpoint, capsys):
    args = ["test", "--data", "svhn", "--root", str(FIXTURES), "--split", "train",
            "--checkpoint", str(random_checkpoint), "--json"]  # fmt: skip
    assert run(args) == 0
    plain = json.loads(capsys.readouterr().out)
    assert run([*args, "--tta"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert "balanced_accuracy_tta" not in plain
    assert both["balanced_accuracy"] == plain["balanced_accuracy"]
    assert both["loss"] == plain["loss"]  # every plain field from the plain probabilities
    assert both["per_digit"] == plain["per_digit"]
    assert 0 <= both["balanced_accuracy_tta"] <= 1 and set(both["per_digit_tta"]) == set(
        plain["per_digit"]
    )
