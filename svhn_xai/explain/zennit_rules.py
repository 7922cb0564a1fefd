"""The zennit side of LRP: rules, composites and the canonizers that make ResNet-18 LRP-ready.

Imported only when an LRP explanation runs: zennit pulls in torchvision, two seconds of every
cold start that nothing else needs.
"""

from __future__ import annotations

import torch
from zennit.attribution import Gradient
from zennit.canonizers import AttributeCanonizer
from zennit.composites import (
    EpsilonAlpha2Beta1,
    EpsilonGammaBox,
    EpsilonPlus,
    LayerMapComposite,
    layer_map_base,
)
from zennit.core import Composite
from zennit.layer import Sum
from zennit.rules import AlphaBeta, Epsilon, Gamma, ZPlus
from zennit.types import Convolution

from svhn_xai.explain.copies import merge_batch_norms
from svhn_xai.model.network import Add


class AddCanonizer(AttributeCanonizer):
    """Make each residual :class:`Add` a stack + zennit ``Sum``, which LRP rules can hook."""

    def __init__(self) -> None:
        super().__init__(self._attribute_map)

    @classmethod
    def _attribute_map(cls, name: str, module: torch.nn.Module) -> dict | None:
        if isinstance(module, Add):
            return {"forward": cls.forward.__get__(module), "canonizer_sum": Sum()}
        return None

    @staticmethod
    def forward(self: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.canonizer_sum(torch.stack([a, b], dim=-1))


def canonize(model: torch.nn.Module) -> None:
    """Make ``model`` LRP-ready for good: BatchNorms merged into their convolutions (the same
    merge as the methods' folded copy, :func:`~svhn_xai.explain.copies.merge_batch_norms`), each
    residual :class:`Add` a zennit ``Sum``.

    zennit's own merge leaves each BatchNorm in place as an "identity" that still divides by
    sqrt(1 + eps) (about 1e-4 off in the logit over ResNet-18's twenty of them); here a merged
    BatchNorm becomes a true identity, so the canonized copy computes the model's function.
    """
    merge_batch_norms(model)
    AddCanonizer().apply(model)


def composite(rule: str, epsilon: float = 1e-6, gamma: float = 0.25) -> Composite:
    """The zennit composite for ``rule``: which rule goes on which layer.

    Single rules (``epsilon``, ``zplus``, ``alpha1beta0``, ``alpha2beta1``, ``gamma``) go on
    every convolution and on the linear head alike; ``epsilon_plus`` (Z+ on convolutions,
    epsilon on the head),
    ``epsilon_gamma_box`` (ZBox on the first layer, inputs bounded by [0, 1]) and
    ``epsilon_alpha2beta1`` are zennit's standard composites. The composite carries no
    canonizers: it is meant for a model that :func:`canonized` has prepared.
    """
    single = {
        "epsilon": Epsilon(epsilon=epsilon),
        "zplus": ZPlus(),
        "alpha1beta0": AlphaBeta(alpha=1.0, beta=0.0),
        "alpha2beta1": AlphaBeta(alpha=2.0, beta=1.0),
        "gamma": Gamma(gamma=gamma),
    }
    if rule in single:
        layer_map = layer_map_base(stabilizer=epsilon) + [
            (Convolution, single[rule]),
            (torch.nn.Linear, single[rule]),
        ]
        return LayerMapComposite(layer_map=layer_map)
    if rule == "epsilon_plus":
        return EpsilonPlus(epsilon=epsilon)
    if rule == "epsilon_gamma_box":
        return EpsilonGammaBox(low=0.0, high=1.0, epsilon=epsilon, gamma=gamma)
    if rule == "epsilon_alpha2beta1":
        return EpsilonAlpha2Beta1(epsilon=epsilon)
    raise ValueError(f"unknown LRP rule {rule!r}: the rule parameter lists the known ones")


def relevance(
    model: torch.nn.Module,
    x: torch.Tensor,
    weights: torch.Tensor,
    rule: str,
    epsilon: float,
    gamma: float,
) -> torch.Tensor:
    """Input relevance (N, 3, H, W) of the logits weighted by ``weights`` (outputs,) or, a row
    per image, (N, outputs): one head (one-hot) or the difference of two (+1, -1); ``model``
    is :func:`canonized`."""
    x = x.detach().clone().requires_grad_(True)

    def start(out: torch.Tensor) -> torch.Tensor:  # relevance enters as the weighted logits
        return out * weights

    with Gradient(model=model, composite=composite(rule, epsilon, gamma)) as attributor:
        _, rel = attributor(x, start)
    return rel


# Every layer that the epsilon rule and zennit's base layer map (Norm) treat alike: a linear map
# whose relevance is split in proportion to each input's contribution, over a stabilised sum.
# A residual Add is zennit's Sum (Norm rule) computed without the stack the canonizer adds.
_PROPORTIONAL = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.AdaptiveAvgPool2d, Sum, Add)
# Layers through which relevance moves as the gradient does: ReLU (zennit's Pass), max-pool,
# reshape, and the identities that merged BatchNorms became (see canonize).
_AS_GRADIENT = (torch.nn.ReLU, torch.nn.MaxPool2d, torch.nn.Flatten, torch.nn.Identity)


def one_pass_covers(model: torch.nn.Module) -> bool:
    """Whether :func:`epsilon_relevance` is exact for every layer of ``model``: proportional
    layers and layers that pass relevance as their gradient does (a BatchNorm left unmerged
    does not)."""
    return all(isinstance(m, _PROPORTIONAL + _AS_GRADIENT) for m in _leaves(model))


def _leaves(model: torch.nn.Module) -> list[torch.nn.Module]:
    # leaves only: the canonizer keeps each Add as the parent of the Sum that now computes it
    return [m for m in model.modules() if next(m.children(), None) is None]


def epsilon_relevance(
    model: torch.nn.Module, x: torch.Tensor, weights: torch.Tensor, epsilon: float
) -> torch.Tensor:
    """Epsilon-rule relevance (N, 3, H, W), as :func:`relevance` gives it, in one backward pass.

    With relevance written as value x "modified gradient" at every layer (R = z * g), the
    epsilon rule R_in = x * W^T (R_out / (z + eps sign z)) is plain backpropagation in which the
    gradient at each proportional layer's output z is first multiplied by z / (z + eps sign z);
    ReLUs (Pass), the max-pool and reshapes then behave exactly as their gradients do. zennit
    computes the same numbers by re-running every layer's forward inside its backward hooks,
    about twice the work. ``model`` has its BatchNorms merged (:func:`canonized`, or the
    methods' folded copy, whose residual sums stay :class:`~svhn_xai.model.network.Add`), and
    :func:`one_pass_covers` it; the caller checks, once.
    """

    def damp(_module: torch.nn.Module, _args: tuple, z: torch.Tensor) -> None:
        # zennit's z / stabilize(z) = z / (z + eps sign z), 0 where z = 0, is |z| / (|z| + eps):
        # bit for bit the same factor, in four element-wise passes instead of eight
        def rescale(grad: torch.Tensor) -> torch.Tensor:
            size = z.abs()
            return grad.mul(size).div_(size.add_(epsilon))

        z.register_hook(rescale)

    handles = [
        m.register_forward_hook(damp) for m in _leaves(model) if isinstance(m, _PROPORTIONAL)
    ]
    try:
        x = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad((model(x) * weights).sum(), x)
    finally:
        for handle in handles:
            handle.remove()
    return x.detach() * grad
