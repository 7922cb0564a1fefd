"""Layer-wise Relevance Propagation with zennit, correct on our ResNet-18.

Captum's LRP has no rule for residual additions (captum PR #342). zennit has them: a canonizer
merges every BatchNorm into its convolution and routes each :class:`~svhn_xai.model.Add`
through zennit's ``Sum`` layer, whose ``Norm`` rule splits relevance between the two branches
in proportion to their contributions. Relevance starts as the explained head's logit, so with
the epsilon rule and no biases the input relevance sums to that logit.

LRP runs on a private copy of the model: the canonizer rewrites weights while it works, and the
shared model must never change, not even for a moment.
"""

from __future__ import annotations

import copy

import torch
from zennit.attribution import Gradient
from zennit.canonizers import AttributeCanonizer, SequentialMergeBatchNorm
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

from svhn_xai.explain.base import Context, register
from svhn_xai.explain.params import Param
from svhn_xai.model import Add

RULES = (
    "epsilon",
    "zplus",
    "alpha1beta0",
    "alpha2beta1",
    "gamma",
    "epsilon_plus",
    "epsilon_gamma_box",
    "epsilon_alpha2beta1",
)


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


def canonizers() -> list:
    return [SequentialMergeBatchNorm(), AddCanonizer()]


def composite(rule: str, epsilon: float = 1e-6, gamma: float = 0.25) -> Composite:
    """The zennit composite for ``rule``: which rule goes on which layer.

    Single rules (``epsilon``, ``zplus``, ``alpha1beta0``, ``alpha2beta1``, ``gamma``) go on
    every convolution and on the linear head alike; ``epsilon_plus`` (Z+ on convolutions,
    epsilon on the head),
    ``epsilon_gamma_box`` (ZBox on the first layer, inputs bounded by [0, 1]) and
    ``epsilon_alpha2beta1`` are zennit's standard composites.
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
        return LayerMapComposite(layer_map=layer_map, canonizers=canonizers())
    if rule == "epsilon_plus":
        return EpsilonPlus(epsilon=epsilon, canonizers=canonizers())
    if rule == "epsilon_gamma_box":
        return EpsilonGammaBox(
            low=0.0, high=1.0, epsilon=epsilon, gamma=gamma, canonizers=canonizers()
        )
    if rule == "epsilon_alpha2beta1":
        return EpsilonAlpha2Beta1(epsilon=epsilon, canonizers=canonizers())
    raise ValueError(f"rule must be one of {RULES}, got {rule!r}")


def relevance(
    model: torch.nn.Module, x: torch.Tensor, head: int, rule: str, epsilon: float, gamma: float
) -> torch.Tensor:
    """Input relevance (N, 3, H, W) of ``head``'s logit; ``model`` is used as given (not copied)."""
    x = x.detach().clone().requires_grad_(True)

    def start(out: torch.Tensor) -> torch.Tensor:  # relevance enters as the head's logit
        onehot = torch.zeros_like(out)
        onehot[:, head] = 1
        return out * onehot

    with Gradient(model=model, composite=composite(rule, epsilon, gamma)) as attributor:
        _, rel = attributor(x, start)
    return rel


@register(
    "lrp",
    "LRP",
    "relevance propagation",
    "Layer-wise Relevance Propagation (Bach et al. 2015) via zennit, with ResNet-aware "
    "canonizers; relevance is conserved from the digit's logit down to the pixels.",
    (
        Param(
            "rule",
            "choice",
            "epsilon_gamma_box",
            "Propagation rule on every layer: epsilon (Z), Z+, alpha-beta, gamma; or a standard "
            "composite: epsilon-plus, epsilon-alpha2-beta1, or the default epsilon-gamma-box "
            "(ZBox on the pixels, gamma on the convolutions, epsilon on the head).",
            choices=RULES,
        ),
        Param(
            "epsilon",
            "float",
            1e-6,
            "Stabiliser of the epsilon rule (larger = sparser, less noisy).",
            low=1e-9,
            high=10.0,
        ),
        Param(
            "gamma",
            "float",
            0.25,
            "Weight of positive contributions in the gamma rule.",
            low=0.0,
            high=10.0,
        ),
    ),
)
def lrp(ctx: Context) -> torch.Tensor:
    p = ctx.params
    private = copy.deepcopy(ctx.model)
    return relevance(private, ctx.x, ctx.head, p["rule"], p["epsilon"], p["gamma"])
