import pytest
import torch
from torch import nn

from svhn_xai.model.network import Add, DigitResNet18


def test_every_activation_is_its_own_non_inplace_relu():
    model = DigitResNet18()
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 17  # stem + 2 per block x 8 blocks
    assert len({id(r) for r in relus}) == len(relus)
    assert not any(r.inplace for r in relus)
    assert sum(isinstance(m, Add) for m in model.modules()) == 8


@pytest.mark.parametrize("stem, sizes", [("imagenet", [16, 8, 4, 2]), ("small", [32, 16, 8, 4])])
def test_stage_sizes_match_the_real_feature_maps(stem, sizes):
    model = DigitResNet18(stem=stem, input_size=64).eval()
    seen = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda m, i, o, n=name: seen.__setitem__(n, o.shape[-1])
        )
        for name in ("layer1", "layer2", "layer3", "layer4")
    ]
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 10)
    assert list(seen.values()) == sizes == list(model.stage_sizes().values())


def test_single_head_variant_and_head_lookup():
    model = DigitResNet18(digits=(7,))
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 1)
    assert model.head(7) == 0
    with pytest.raises(ValueError, match="no head for digit 3"):
        model.head(3)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        DigitResNet18(digits=(1, 1))
    with pytest.raises(ValueError):
        DigitResNet18(stem="huge")
