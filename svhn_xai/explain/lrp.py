"""Layer-wise Relevance Propagation with zennit, correct on our ResNet-18.

Captum's LRP has no rule for residual additions (captum PR #342). zennit has them: a canonizer
merges every BatchNorm into its convolution and routes each :class:`~svhn_xai.model.Add`
through zennit's ``Sum`` layer, whose ``Norm`` rule splits relevance between the two branches
in proportion to their contributions. Relevance starts as the explained head's logit, so with
the epsilon rule and no biases the input relevance sums to that logit.

LRP runs on a private copy of the model: the canonizer rewrites weights while it works, and the
shared model must never change, not even for a moment. The copy is made once per model and
canonized for good (a deepcopy and a BatchNorm merge cost ~40 ms, a tenth of a whole LRP run);
it is made again when the shared model's weights change.
"""

from __future__ import annotations

import copy
import weakref

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

from svhn_xai.explain.base import Context, register, without_hooks
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
    raise ValueError(f"rule must be one of {RULES}, got {rule!r}")


_PRIVATE: weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, torch.nn.Module]] = (
    weakref.WeakKeyDictionary()
)


def _weights_state(model: torch.nn.Module) -> tuple:
    """Changes whenever a parameter or buffer of ``model`` is replaced or written in place."""
    return tuple((t.data_ptr(), t._version) for t in (*model.parameters(), *model.buffers()))


def canonized(model: torch.nn.Module) -> torch.nn.Module:
    """A private, LRP-ready copy of ``model``: BatchNorms merged, residual ``Add``s as ``Sum``.

    Cached per model; the caller holds the model's lock (:func:`~svhn_xai.explain.base.explain`
    does), so the copy is never used by two explanations at once.
    """
    state = _weights_state(model)
    cached = _PRIVATE.get(model)
    if cached is None or cached[0] != state:
        private = without_hooks(copy.deepcopy(model))  # explain()'s pass counter included
        for canonizer in canonizers():
            canonizer.apply(private)  # never removed: the copy exists only to be explained
        _PRIVATE[model] = (state, private)
    return _PRIVATE[model][1]


def relevance(
    model: torch.nn.Module, x: torch.Tensor, head: int, rule: str, epsilon: float, gamma: float
) -> torch.Tensor:
    """Input relevance (N, 3, H, W) of ``head``'s logit; ``model`` is :func:`canonized`."""
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
    ctx.model_passes += len(ctx.x)  # one forward and backward through the private copy
    return relevance(canonized(ctx.model), ctx.x, ctx.head, p["rule"], p["epsilon"], p["gamma"])
