import numpy as np
import pytest
import torch

from svhn_xai.data.synthetic import SyntheticHouseNumbers
from svhn_xai.data.target import to_model_input
from svhn_xai.model import DigitResNet18


def random_model(seed: int = 0, biases: bool = True) -> DigitResNet18:
    """A ResNet-18 whose every BatchNorm does something (untrained ones are the identity)."""
    torch.manual_seed(seed)
    model = DigitResNet18()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.running_var.uniform_(0.5, 2.0)
                if biases:
                    m.bias.uniform_(-0.2, 0.2)
                    m.running_mean.uniform_(-0.2, 0.2)
                else:
                    m.bias.zero_()
                    m.running_mean.zero_()
                    # zennit leaves a merged BatchNorm computing x / sqrt(1 + eps): with the
                    # default eps = 1e-5 that leaks ~5e-6 of relevance per layer
                    m.eps = 0.0
        if not biases:
            model.fc.bias.zero_()
    return model.eval()


@pytest.fixture(scope="session")
def model() -> DigitResNet18:
    return random_model(0)


@pytest.fixture(scope="session")
def house():
    item = to_model_input(SyntheticHouseNumbers(4, seed=1)[2], 64).item
    return item.image, item.labels[0], item.boxes_of(item.labels[0])


@pytest.fixture(scope="session")
def image_tensor(house):
    return torch.from_numpy(np.ascontiguousarray(house[0])).permute(2, 0, 1).float().div(255)[None]
