import json
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from svhn_xai.cli import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "svhn"
KEYS = {
    "method",
    "digit",
    "probability",
    "iou_1",
    "iou_2",
    "pointing_game",
    "threshold",
    "heatmap_box",
    "gt_boxes",
    "seconds",
    "params",
}


def test_explain_dataset_image_json(random_checkpoint, capsys, tmp_path):
    overlay, npy = tmp_path / "o.png", tmp_path / "a.npy"
    code = run(
        [
            "explain",
            "--data",
            "svhn",
            "--root",
            str(FIXTURES),
            "--split",
            "train",
            "--index",
            "1",
            "--digit",
            "3",
            "--method",
            "saliency",
            "--checkpoint",
            str(random_checkpoint),
            "--json",
            "--save-overlay",
            str(overlay),
            "--save-attribution",
            str(npy),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= KEYS
    # 2.png holds "23"; the 3 is [98, 25, 124, 57]. Union of both digits [77, 25, 124, 61]
    # (47 x 36) grown by 15 %: [69.95, 19.6, 131.05, 66.4] -> window (69, 19, 132, 67), 63 x 48
    # px, resized to 64 x 64: x -> (x - 69) * 64 / 63, y -> (y - 19) * 64 / 48
    expected = [(98 - 69) * 64 / 63, (25 - 19) * 64 / 48, (124 - 69) * 64 / 63, (57 - 19) * 64 / 48]
    assert out["gt_boxes"] == [pytest.approx(expected)]
    assert set(out["baselines"]) == {"whole_image", "centre_gaussian", "uniform_random"}
    assert np.load(npy).shape == (3, 64, 64)
    assert Image.open(overlay).size == (256, 256)


def test_explain_uploaded_image_with_box_and_params(random_checkpoint, capsys, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 80, 3), 200, np.uint8)).save(photo)
    code = run(
        [
            "explain",
            "--image",
            str(photo),
            "--box",
            "20,10,40,30",
            "--no-crop",
            "--digit",
            "7",
            "--method",
            "occlusion",
            "--param",
            "window=16",
            "--param",
            "stride=8",
            "--threshold-mode",
            "topk",
            "--threshold",
            "10",
            "--checkpoint",
            str(random_checkpoint),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gt_boxes"] == [[16.0, 16.0, 32.0, 48.0]]  # x scaled by 64/80, y by 64/40
    assert out["params"]["window"] == 16 and out["threshold_mode"] == "topk"


def test_photo_is_cropped_around_every_marked_digit_and_the_target_scored(
    random_checkpoint, capsys, tmp_path
):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((100, 200, 3), 200, np.uint8)).save(photo)
    base = ["explain", "--image", str(photo), "--method", "saliency", "--json"]
    boxes = ["--box", "40,20,60,60", "--box", "60,20,100,60:2"]
    code = run([*base, *boxes, "--digit", "1", "--checkpoint", str(random_checkpoint)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    # crop (31, 14)-(109, 66), the union grown 15 % per side, is 78 x 52 px -> 64 x 64
    sx, sy = 64 / 78, 64 / 52
    np.testing.assert_allclose(out["gt_boxes"], [[9 * sx, 6 * sy, 29 * sx, 46 * sy]])
    assert out["scored"]
    labelled = ["--box", "40,20,60,60:1", "--box", "60,20,100,60:2"]
    code = run([*base, *labelled, "--digit", "5", "--checkpoint", str(random_checkpoint)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and not out["scored"]  # no 5 marked: probability and heatmap only


@pytest.mark.parametrize(
    "box, message",
    [("40,20,60", "x0,y0,x1,y1"), ("40,20,60,60:11", "digit 0-9"), ("300,20,400,60", "outside")],
)
def test_bad_box_exits_2_with_the_reason(random_checkpoint, capsys, tmp_path, box, message):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((100, 200, 3), 200, np.uint8)).save(photo)
    with pytest.raises(SystemExit) if "outside" not in message else nullcontext() as caught:
        code = run(
            ["explain", "--image", str(photo), "--box", box, "--digit", "1"]
            + ["--checkpoint", str(random_checkpoint)]
        )
    assert (caught.value.code if caught else code) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "saliency", "--param", "abs=maybe"], "abs must be true or false"),
        (["--method", "occlusion", "--param", "window=0"], "window must be"),
        (["--method", "magic"], "unknown method"),
    ],
)
def test_bad_explain_options_are_one_line(random_checkpoint, capsys, args, message):
    code = run(
        ["explain", "--index", "0", "--digit", "1", "--checkpoint", str(random_checkpoint), *args]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_image_without_box_and_corrupt_image(random_checkpoint, capsys, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    assert (
        run(
            ["explain", "--image", str(bad), "--digit", "1", "--checkpoint", str(random_checkpoint)]
        )
        == 2
    )
    assert "--box" in capsys.readouterr().err
    code = run(
        [
            "explain",
            "--image",
            str(bad),
            "--box",
            "1,1,5,5",
            "--digit",
            "1",
            "--checkpoint",
            str(random_checkpoint),
        ]
    )
    assert code == 2 and "not an image" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threshold-mode", "value", "--threshold", "7"], "must be in [0, 1], got 7"),
        (["--threshold", "700"], "got 700"),  # out of the default mode's range, whichever
        (["--threshold-mode", "topk", "--threshold", "0"], "must be in [1, 100], got 0"),
        (["--smooth", "-1"], "sigma must be in"),
        (["--clip-percentile", "0"], "--clip-percentile must be in"),
    ],
)
def test_out_of_range_mask_rule_is_one_line_exit_2(random_checkpoint, capsys, args, message):
    code = run(["explain", "--index", "0", "--digit", "3", "--checkpoint",
                str(random_checkpoint), *args])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_explain_defaults_to_the_protocol_and_marks_directions(random_checkpoint, capsys):
    from svhn_xai.data.sources import open_source
    from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL

    digit = str(open_source("synthetic", "test")[0].labels[0])  # present: the map is scored
    code = run(["explain", "--index", "0", "--digit", digit, "--method", "saliency",
                "--checkpoint", str(random_checkpoint), "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["protocol"] == DEFAULT_PROTOCOL.to_dict()
    assert out["directions"]["iou_1"] == "higher"
    assert {"rank_accuracy", "pointing_game_tolerant"} <= set(out)
