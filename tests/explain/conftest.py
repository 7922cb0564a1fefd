import numpy as np
import pytest
import torch

from svhn_xai.data.synthetic import SyntheticHouseNumbers
from svhn_xai.data.target import to_model_input
from svhn_xai.model.network import DigitResNet18
from tests.models import random_model


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
