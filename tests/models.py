"""Small, reproducible models and checkpoints for tests."""

from pathlib import Path

import torch

from svhn_xai.model.checkpoint import save_checkpoint
from svhn_xai.model.network import DigitResNet18


def random_model(
    seed: int = 0, biases: bool = True, stem: str = "imagenet", input_size: int = 64
) -> DigitResNet18:
    """A ResNet-18 whose every BatchNorm does something (untrained ones are the identity)."""
    torch.manual_seed(seed)
    model = DigitResNet18(stem=stem, input_size=input_size)
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
        if not biases:
            model.fc.bias.zero_()
    return model.eval()


def write_checkpoint(path: Path, model: DigitResNet18, **extra) -> Path:
    """Save ``model`` as an svhn_xai checkpoint (epoch 0, default margin) at ``path``."""
    save_checkpoint(
        path,
        {
            "architecture": model.architecture(),
            "model_state": model.state_dict(),
            "epoch": 0,
            "config": {"margin": 0.15},
            "metrics": {},
            **extra,
        },
    )
    return path


class Linear(torch.nn.Module):
    """f(x) = sum(w * x), one output: a model whose attributions' expectations can be written
    down (RISE's saliency, GradientShap's w * (x - E[reference]))."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).sum((1, 2, 3))[:, None]
