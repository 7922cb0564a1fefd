"""ResNet-18 for "is digit D in this house number?", built so every attribution method works on it.

Differences from torchvision's ResNet-18, each for the explainers:
- every activation is its own non-inplace ``nn.ReLU`` module, and every residual addition is an
  :class:`Add` module: Captum's DeepLift/DeepLiftShap need one module per nonlinearity, and LRP
  needs to see the additions to split relevance between the two branches;
- the input is an RGB image in [0, 1] with no normalisation layer in front, so a black image is a
  meaningful baseline and LRP's input bounds are simply 0 and 1;
- one logit per digit: head ``k`` is the binary classifier "digit ``digits[k]`` is present".

The stem is a choice (see README): ``"imagenet"`` (7x7 stride-2 conv + max-pool) leaves a 64x64
input's stages at 16, 8, 4 and 2 pixels and trains fast on a CPU; ``"small"`` (3x3 stride-1 conv +
max-pool) doubles every stage (last one 4x4) for about 4x the compute.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

STEMS = ("imagenet", "small")
STAGES = ("layer1", "layer2", "layer3", "layer4")


class Add(nn.Module):
    """``a + b`` as a module, so hooks (and LRP rules) can see the residual addition."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut; distinct ReLUs, explicit :class:`Add`."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )
        self.add = Add()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(self.add(out, identity))


class DigitResNet18(nn.Module):
    """ResNet-18 ([2, 2, 2, 2] BasicBlocks) with one presence logit per digit.

    Args:
        digits: the digits the heads answer for, in output order; ``(D,)`` is the seed's
            single-head binary classifier for digit D.
        stem: ``"imagenet"`` or ``"small"`` (see module docstring).
        input_size: side of the square RGB input in pixels (stored for checkpoints and the UI).

    Input (B, 3, S, S) float in [0, 1]; output (B, len(digits)) logits.
    """

    def __init__(
        self, digits: Sequence[int] = tuple(range(10)), stem: str = "imagenet", input_size: int = 64
    ) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if not digits or any(not 0 <= d <= 9 for d in digits) or len(set(digits)) != len(digits):
            raise ValueError(f"digits must be distinct values 0-9, got {digits}")
        self.digits = tuple(int(d) for d in digits)
        self.stem = stem
        self.input_size = int(input_size)
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(512, len(self.digits))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            # zero-init the last BN of each block: every block starts as the identity
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after_conv1(self.conv1(x))

    def after_conv1(self, z: torch.Tensor) -> torch.Tensor:
        """The logits (B, outputs) from the first convolution's output ``z`` (B, 64, S/2, S/2;
        S x S with the small stem): the network less its first layer, an affine map, which
        Integrated Gradients applies to two images instead of every path point
        (:mod:`svhn_xai.explain.integrated`)."""
        x = self.maxpool(self.relu(self.bn1(z)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))

    def head(self, digit: int) -> int:
        """Output index of the head for ``digit``; raises ValueError if the model has none."""
        if digit not in self.digits:
            raise ValueError(f"this model has no head for digit {digit} (it answers {self.digits})")
        return self.digits.index(digit)

    def stage_sizes(self) -> dict[str, int]:
        """Feature-map side of each stage for this model's input size, e.g. layer4 -> 2."""
        side = self.input_size // (2 if self.stem == "small" else 4)
        return {name: max(side // 2**i, 1) for i, name in enumerate(STAGES)}

    def architecture(self) -> dict[str, object]:
        """What a checkpoint must match to load into this model."""
        return {
            "name": "DigitResNet18",
            "digits": list(self.digits),
            "stem": self.stem,
            "input_size": self.input_size,
        }
