"""DeepLift's rescale rule (Shrikumar et al. 2017), computed as Captum's ``DeepLift`` computes
it, with half the backward work.

Captum runs the images and their references as one doubled batch, forward and backward, and
rewrites each nonlinearity's gradient in a backward hook on that doubled batch. Backward
through the references' half is wasted: every linear layer treats both halves alike and both
start from the same output gradient, so the references' gradients equal the images' own, and
Captum only ever reads them in its max-pool rule. Here the references go through the network
once without gradients, each nonlinearity keeps what it saw, and the images' pass swaps every
nonlinearity for an autograd function whose backward applies the rule against those values;
the max-pool rule takes its references' share from the images' gradient. Attributions equal
Captum's to float rounding (``tests/explain/test_deeplift.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

# as Captum's DeepLift: where the input moved less than this, the plain gradient is used
EPS = 1e-10


class _RescaleReLU(torch.autograd.Function):
    """ReLU forward; backward: the gradient times Δout/Δin against the reference."""

    @staticmethod
    def forward(ctx, x, x_ref, y_ref):  # type: ignore[override]
        y = torch.relu(x)
        ctx.save_for_backward(x, y, x_ref, y_ref)
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, y, x_ref, y_ref = ctx.saved_tensors
        delta_in = x - x_ref
        plain = grad * (x > 0)
        return torch.where(delta_in.abs() < EPS, plain, grad * (y - y_ref) / delta_in), None, None


class _RescaleMaxPool(torch.autograd.Function):
    """Max-pooling forward; backward: Captum's rule for it (the "cross maximum" of the image's
    and the reference's outputs, each unpooled to its own arg-max positions)."""

    @staticmethod
    def forward(ctx, x, x_ref, y_ref, pool):  # type: ignore[override]
        args = (pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode)
        y, indices = F.max_pool2d(x, *args, return_indices=True)
        _, indices_ref = F.max_pool2d(x_ref, *args, return_indices=True)
        ctx.args = args
        ctx.save_for_backward(x, y, indices, x_ref, y_ref, indices_ref)
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, y, indices, x_ref, y_ref, indices_ref = ctx.saved_tensors
        kernel, stride, padding, dilation, ceil_mode = ctx.args
        size = list(x.shape[-2:])
        cross = torch.maximum(y, y_ref)
        unpooled = F.max_unpool2d(
            grad * (cross - y_ref), indices, kernel, stride, padding, size
        ) + F.max_unpool2d(grad * (y - cross), indices_ref, kernel, stride, padding, size)
        plain = torch.ops.aten.max_pool2d_with_indices_backward(
            grad, x, kernel, stride, padding, dilation, ceil_mode, indices
        )
        delta_in = x - x_ref
        return torch.where(delta_in.abs() < EPS, plain, unpooled / delta_in), None, None, None


_RULES = {nn.ReLU: _RescaleReLU, nn.MaxPool2d: _RescaleMaxPool}
# Captum's other nonlinearities: a network holding one is left to Captum
_OTHER_NONLINEAR = (
    nn.ELU,
    nn.LeakyReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softmax,
    nn.MaxPool1d,
    nn.MaxPool3d,
)


def supported(network: nn.Module) -> bool:
    """Whether :func:`deep_lift` handles every nonlinearity of ``network`` (non-inplace ReLUs
    and 2-D max-pooling, each module used once per pass)."""
    for module in network.modules():
        if isinstance(module, _OTHER_NONLINEAR):
            return False
        if isinstance(module, nn.ReLU) and module.inplace:
            return False
    return True


@contextmanager
def _hooked(network: nn.Module, hook) -> Iterator[None]:
    handles = [m.register_forward_hook(hook) for m in network.modules() if type(m) in _RULES]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def deep_lift(
    net: nn.Module,
    network: nn.Module,
    x: torch.Tensor,
    references: torch.Tensor,
    target: int | list[int],
) -> torch.Tensor:
    """DeepLift attributions (N, 3, S, S) of ``net(x)[:, target]`` against ``references``.

    Args:
        net: what is explained (``network`` itself, or a wrapper that calls it once per pass).
        network: the module whose ReLUs and max-pools carry the rule (see :func:`supported`).
        x: images (N, 3, S, S); references: one per image, the same shape.
        target: the explained output column, one for all rows or one per row.
    """
    if references.shape != x.shape:
        raise ValueError(f"references {tuple(references.shape)} must match x {tuple(x.shape)}")
    seen: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if module in seen:
            raise RuntimeError(f"DeepLift needs each nonlinearity used once; {module} is reused")
        seen[module] = (inputs[0], output)

    with _hooked(network, record), torch.no_grad():
        net(references)

    rescaled: list[torch.Tensor] = []  # outputs of the rules in this pass, in order

    def rescale(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
        x_ref, y_ref = seen[module]
        after_rule = any(inputs[0] is t for t in rescaled)
        if isinstance(module, nn.MaxPool2d):
            if after_rule:
                # Captum's hooks on a ReLU feeding a max-pool: the ReLU's hook reads its output's
                # gradient before the max-pool's rule rewrites it, so the rule only reaches
                # positions where the ReLU's input did not move, and there it meets Δin = 0.
                # The plain max-pool gradient is what Captum's attributions carry.
                return None
            out = _RescaleMaxPool.apply(inputs[0], x_ref, y_ref, module)
        else:
            if after_rule:
                raise NotImplementedError("a nonlinearity straight after a ReLU")
            out = _RescaleReLU.apply(inputs[0], x_ref, y_ref)
        rescaled.append(out)
        return out

    inputs = x.detach().requires_grad_(True)
    with _hooked(network, rescale), torch.enable_grad():
        out = net(inputs)
        rows = torch.arange(len(x), device=x.device)
        picked = out[rows, torch.as_tensor(target, device=x.device)]
        (multipliers,) = torch.autograd.grad(picked.sum(), inputs)
    return (x - references) * multipliers
