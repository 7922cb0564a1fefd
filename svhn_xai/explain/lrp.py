"""Layer-wise Relevance Propagation with zennit, correct on our ResNet-18.

Captum's LRP has no rule for residual additions (captum PR #342). zennit has them: a canonizer
merges every BatchNorm into its convolution and routes each :class:`~svhn_xai.model.network.Add`
through zennit's ``Sum`` layer, whose ``Norm`` rule splits relevance between the two branches
in proportion to their contributions. Relevance starts as the explained head's logit, so with
the epsilon rule and no biases the input relevance sums to that logit.

LRP runs on a private copy of the model (:mod:`svhn_xai.explain.copies`): the canonizer
rewrites weights while it works, and the shared model must never change, not even for a moment.
The copy is made once per model and canonized for good (a deepcopy and a BatchNorm merge cost
~40 ms, a tenth of a whole LRP run); it is made again when the shared model's weights change.
The zennit parts live in :mod:`svhn_xai.explain.zennit_rules`, imported on first use.
"""

from __future__ import annotations

import torch

from svhn_xai.explain.context import Context
from svhn_xai.explain.copies import private_copy
from svhn_xai.explain.params import Param
from svhn_xai.explain.registry import ONE_PASS, register
from svhn_xai.explain.smoothing import SMOOTH_PARAMS, smoothable

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


def _canonize(model: torch.nn.Module) -> torch.nn.Module:
    from svhn_xai.explain.zennit_rules import canonize

    canonize(model)  # never undone: the copy exists only to be explained
    return model


def canonized(model: torch.nn.Module) -> torch.nn.Module:
    """A private, LRP-ready copy of ``model``: BatchNorms merged, residual ``Add``s as ``Sum``
    (cached, see :mod:`svhn_xai.explain.copies`)."""
    return private_copy(model, "canonized", _canonize)


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
            "epsilon",
            "Propagation rule on every layer: epsilon (the default: with epsilon 0.1, pointing "
            "game 0.85 / 0.78 synthetic / real and more relevance in the box than Input x "
            "Gradient), Z+, alpha-beta, "
            "gamma; or a standard composite: epsilon-plus, epsilon-alpha2-beta1, "
            "epsilon-gamma-box (ZBox on the pixels, gamma on the convolutions, epsilon on the "
            "head).",
            choices=RULES,
        ),
        Param(
            "epsilon",
            "float",
            0.1,
            "Stabiliser of the epsilon rule: larger absorbs weak, contradictory relevance "
            "(sparser, less noisy maps). Near 0 on a ReLU network, epsilon-LRP is Input x "
            "Gradient exactly.",
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
        *SMOOTH_PARAMS,
    ),
    batched=True,
    cost=ONE_PASS,
)
@smoothable
def lrp(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    from svhn_xai.explain.zennit_rules import epsilon_relevance, one_pass_covers, relevance

    p = ctx.params
    weights = ctx.output_weights(len(ctx.model.digits))
    if p["rule"] == "epsilon" and one_pass_covers(ctx.network):  # same numbers, half the time
        # on the methods' folded copy (explain() counts its passes): zennit's numbers in one
        # plain backward pass, with no canonizer's stacking at the residual sums
        return epsilon_relevance(ctx.network, x, weights, p["epsilon"])
    private = canonized(ctx.model)
    with ctx.watching(private):  # its one forward and backward are this method's pass
        return relevance(private, x, weights, p["rule"], p["epsilon"], p["gamma"])
