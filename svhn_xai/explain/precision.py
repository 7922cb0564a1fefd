"""The number format of the gradient-free model passes: float32, or bfloat16 where the hardware
computes it natively.

A perturbation method (Occlusion, Feature Ablation and Permutation, Shapley Value Sampling,
LIME, KernelShap, RISE) only reads the model's outputs, hundreds or thousands of times per map,
and ranks features by differences between them. In bfloat16 (8 bits of mantissa) the shipped
model's logits move by up to about 1 % of their range, far less than what the features change,
and on a CPU with AVX512-BF16 (or AMX) a pass takes about half the time. Whether the maps stay
the same map is measured, not assumed: ``tests/explain/test_precision.py`` holds each method's
bfloat16 map to its float32 one, and ``benchmarks/defaults_throughput.py`` times both.

Only the passes run in bfloat16 (under autocast: convolutions and matrix products; their
outputs come back in float32); the method's own arithmetic, every gradient and the probability
an explanation reports stay in float32.
"""

from __future__ import annotations

import torch

from svhn_xai.errors import ParameterError
from svhn_xai.explain.params import Param


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions natively, so that they are faster than
    float32 ones rather than emulated and slower."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


PRECISION = Param(
    "precision",
    "choice",
    "float32",
    "Number format of the model passes: float32, or bfloat16 (about twice as fast on a CPU with "
    "AVX512-BF16 or AMX and on recent GPUs; each map is still computed in float32 from the "
    "passes' outputs, and the reported probability comes from a float32 pass).",
    choices=("float32", "bfloat16"),
    runs_on=lambda choice, device: choice == "float32" or native_bfloat16(device),
)


def check_precision(precision: str, x: torch.Tensor) -> None:
    """Raise :class:`ParameterError` where the passes of inputs ``x`` cannot run in
    ``precision``: bfloat16 needs a float32 model on a device with native bfloat16."""
    if precision == "float32":
        return
    if x.dtype != torch.float32:
        raise ParameterError(f"precision=bfloat16 needs a float32 model, this one is {x.dtype}")
    if not native_bfloat16(x.device):
        raise ParameterError(
            f"precision=bfloat16: this {x.device.type.upper()} has no native bfloat16 arithmetic "
            "(on a CPU: AVX512-BF16 or AMX), so its passes would be slower than float32; use "
            "precision=float32"
        )


class Bfloat16Passes(torch.nn.Module):
    """``net`` whose no-grad passes run under bfloat16 autocast, their outputs returned in the
    input's dtype; under autograd it is ``net`` itself, so that no gradient is rounded."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.net(batch)
        with torch.autocast(batch.device.type, dtype=torch.bfloat16):
            out = self.net(batch)
        return out.to(batch.dtype)


def in_precision(net: torch.nn.Module, precision: str) -> torch.nn.Module:
    """``net`` with its passes in ``precision`` (checked by :func:`check_precision`)."""
    return Bfloat16Passes(net) if precision == "bfloat16" else net
