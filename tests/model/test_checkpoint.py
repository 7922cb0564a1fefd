import json
import pickle

import pytest
import torch

from svhn_xai.errors import CheckpointError
from svhn_xai.model.checkpoint import card_path, load_checkpoint, load_model, save_checkpoint
from svhn_xai.model.network import DigitResNet18


def _checkpoint(model: DigitResNet18) -> dict:
    return {
        "architecture": model.architecture(),
        "model_state": model.state_dict(),
        "epoch": 3,
        "config": {"lr": 0.1},
        "metrics": {"test": {"balanced_accuracy": 0.9}},
    }


def test_round_trip_gives_the_same_outputs_and_a_card(tmp_path):
    model = DigitResNet18(digits=(2, 5)).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, _checkpoint(model))
    loaded, card = load_model(path)
    x = torch.rand(2, 3, 64, 64)
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    # the loaded weights are channels-last: the same numbers, summed in another order
    torch.testing.assert_close(model(x), loaded(x), rtol=1e-5, atol=1e-6)
    assert loaded.digits == (2, 5) and not loaded.training
    assert json.loads(card_path(path).read_text())["epoch"] == 3
    assert card["metrics"]["test"]["balanced_accuracy"] == 0.9


def test_half_precision_weights_load_into_float32(tmp_path):
    model = DigitResNet18().eval()
    ckpt = _checkpoint(model)
    ckpt["model_state"] = {
        k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    save_checkpoint(tmp_path / "half.pt", ckpt)
    loaded, _ = load_model(tmp_path / "half.pt")
    assert next(loaded.parameters()).dtype == torch.float32


def test_truncated_random_foreign_and_missing_files_are_refused(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, _checkpoint(DigitResNet18()))
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 40)
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    for name, reason in [
        ("cut.pt", "truncated"),
        ("noise.pt", "truncated or not a PyTorch file"),
        ("foreign.pt", "not an svhn_xai checkpoint"),
        ("empty.pt", "empty"),
        ("absent.pt", "not found"),
    ]:
        with pytest.raises(CheckpointError, match=reason) as info:
            load_checkpoint(tmp_path / name)
        assert name in str(info.value)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_code_in_a_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save(
        {"format": "svhn_xai/checkpoint", "payload": _Exploit(str(marker))}, tmp_path / "evil.pt"
    )
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(_Exploit(str(marker)), f)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_other_architecture_is_refused_with_reason(tmp_path):
    ckpt = _checkpoint(DigitResNet18())
    ckpt["architecture"] = {**ckpt["architecture"], "stem": "small"}
    ckpt["model_state"] = {k: v for k, v in ckpt["model_state"].items() if not k.startswith("fc")}
    save_checkpoint(tmp_path / "other.pt", ckpt)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(tmp_path / "other.pt")


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(path, _checkpoint(DigitResNet18(digits=(1,))))
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        with open(f, "wb") as out:
            out.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _checkpoint(DigitResNet18(digits=(2,))))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == sorted(["m.pt", "m.json"]) or set(
        p.name for p in tmp_path.iterdir()
    ) == {"m.pt", "m.json"}
