"""Guided Backprop and Deconvolution: the input gradient with each ReLU's backward replaced,
computed as Captum's ``GuidedBackprop`` and ``Deconvolution`` compute it, without their hooks.

Captum puts a full backward hook on every ``nn.ReLU``: two identity autograd nodes around
each ReLU and a Python call per ReLU in the backward pass, which then rewrites the gradient
the ReLU's own backward has just computed. Here, for the one pass, every ``nn.ReLU`` module of
the network runs an autograd function whose backward *is* the rule:

- Guided Backprop (Springenberg et al. 2015): ``relu(grad) * (x > 0)``, the ReLU's own gradient
  with the negative gradients blocked as well;
- Deconvolution (Zeiler & Fergus 2014): ``relu(grad)``, the gradient's sign rule alone, whatever
  the ReLU's input was.

As in Captum, only ``nn.ReLU`` modules take the rule (a ``torch.relu`` called inside a module's
``forward`` keeps its plain gradient), and a ReLU module used twice takes it both times.
Attributions equal Captum's to float rounding (``tests/explain/test_modified_relu.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from svhn_xai.explain.hooks import submodules


class _GuidedReLU(torch.autograd.Function):
    """ReLU forward; backward: the gradient where both it and the ReLU's input are positive."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        y = torch.relu(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad.clamp(min=0), y, 0)


class _DeconvolutionReLU(torch.autograd.Function):
    """ReLU forward; backward: the positive part of the gradient, wherever the input was."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return torch.relu(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad.clamp(min=0)


RULES = {"guided_backprop": _GuidedReLU, "deconvolution": _DeconvolutionReLU}


@contextmanager
def _ruled(network: nn.Module, rule: type[torch.autograd.Function]) -> Iterator[None]:
    """Every ``nn.ReLU`` of ``network`` computes ``rule`` inside the block."""
    relus = [m for m in submodules(network) if isinstance(m, nn.ReLU)]
    if any("forward" in vars(m) for m in relus):
        raise RuntimeError("a ReLU module's forward is already replaced")
    try:
        for module in relus:
            module.forward = rule.apply  # the instance's forward; the class's is untouched
        yield
    finally:
        for module in relus:
            vars(module).pop("forward", None)


def modified_gradient(
    net: nn.Module, network: nn.Module, x: torch.Tensor, target: int | list[int], rule: str
) -> torch.Tensor:
    """The gradient (N, 3, S, S) of ``net(x)[:, target]`` with respect to ``x`` under ``rule``.

    Args:
        net: what is explained (``network`` itself, or a wrapper that calls it).
        network: the module whose ``nn.ReLU`` modules take the rule; a private copy, since its
            ReLUs are changed while the pass runs.
        x: images (N, 3, S, S); target: the output column, one for all rows or one per row.
        rule: ``"guided_backprop"`` or ``"deconvolution"``.
    """
    inputs = x.detach().requires_grad_(True)
    with _ruled(network, RULES[rule]), torch.enable_grad():
        out = net(inputs)
        rows = torch.arange(len(x), device=x.device)
        picked = out[rows, torch.as_tensor(target, device=x.device)]
        (grad,) = torch.autograd.grad(picked.sum(), inputs)
    return grad
