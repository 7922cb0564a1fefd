"""One registry of explainers: each method's spec, with everything about it declared once: its
name, family, parameters, default heatmap reduction and cost (:class:`Cost`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from svhn_xai.errors import ParameterError
from svhn_xai.explain.context import Context
from svhn_xai.explain.draws import DRAWS, splits_draws, with_draws
from svhn_xai.explain.params import Param

FAMILIES = ("gradient", "cam", "perturbation", "relevance propagation")


@dataclass(frozen=True)
class Cost:
    """What one explanation costs, declared with its method (read by :mod:`.cost`).

    Attributes:
        passes: images the method pushes through the model to explain one image, as a function
            of its validated parameters and the input side S (pixels); smoothing's copies and
            the clean pass for the probability are added by :func:`.cost.estimated_passes`.
        clean_first: the method's first batch holds the image itself, so the probability comes
            free (:class:`~.context.CleanFirst`); otherwise, with smoothing, a lone clean pass.
        gradient_free: forward passes only (no backward pass: a third of a gradient pass).
        budgets: for a method whose cost grows with a parameter, two small settings of it that
            the estimate is timed at (``a + b x passes``, since not all of its time is passes);
            None: passes x the measured time of one pass.
        per_feature_count: for a method whose features can follow the image (SLIC segments),
            its passes as a function of the parameters and the number of features, so that an
            estimate for a given image counts that image's segments (``passes`` assumes as
            many as the grid has cells).
    """

    passes: Callable[[dict[str, Any], int], int]
    clean_first: bool = False
    gradient_free: bool = False
    budgets: tuple[dict[str, Any], dict[str, Any]] | None = None
    per_feature_count: Callable[[dict[str, Any], int], int] | None = None


ONE_PASS = Cost(lambda p, size: 1)


@dataclass(frozen=True)
class ExplainerSpec:
    key: str
    name: str
    description: str
    family: str
    params: tuple[Param, ...]
    run: Callable[[Context], torch.Tensor]
    reduction: str  # default channel reduction for the heatmap (see heatmap.reduce_channels)
    batched: bool = False  # run() takes a batch of images, one head each (see Context)
    cost: Cost = ONE_PASS
    # for a sampling method, whether its map of one image at these (validated) parameters comes
    # with the maps of each half of its samples (Explanation.halves; svhn_xai.explain.halves)
    splits: Callable[[dict[str, Any]], bool] = lambda p: False

    def takes(self, name: str) -> bool:
        """Whether the method has a parameter called ``name`` (``seed``: it draws at random;
        ``precision``: its passes can run in bfloat16)."""
        return any(p.name == name for p in self.params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "family": self.family,
            "reduction": self.reduction,
            "params": {p.name: p.to_dict() for p in self.params},
        }


REGISTRY: dict[str, ExplainerSpec] = {}


def register(
    key: str,
    name: str,
    family: str,
    description: str,
    params: tuple[Param, ...] = (),
    reduction: str = "positive",
    batched: bool = False,
    cost: Cost | None = None,
    splits: Callable[[dict[str, Any]], bool] | None = None,
) -> Callable[[Callable[[Context], torch.Tensor]], Callable[[Context], torch.Tensor]]:
    """Decorator: add ``run`` to :data:`REGISTRY` under ``key``; ``batched`` when ``run``
    explains a batch of images in one go (:func:`explain_batch`); ``cost`` says what one
    explanation costs (:data:`ONE_PASS` for a method of one forward and backward pass), and a
    method without it is refused, so that no estimate silently counts it as one pass.
    ``splits``: for a sampling method, the settings at which ``run`` records the maps of each
    half of its samples (:meth:`Context.split`); an even number of ``draws`` always does."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    if not isinstance(cost, Cost):
        raise ValueError(f"method {key!r} declares no cost: give cost=Cost(passes=...)")

    def decorate(run: Callable[[Context], torch.Tensor]) -> Callable[[Context], torch.Tensor]:
        given, runs, split = params, run, splits or (lambda p: False)
        if any(p.name == "seed" for p in params):  # a sampling method: its draws can be averaged
            given, runs = (*params, DRAWS), with_draws(run)
            split = functools.partial(_splits, splits)
        spec = ExplainerSpec(
            key, name, description, family, given, runs, reduction, batched, cost, split
        )
        REGISTRY[key] = spec
        return run

    return decorate


def _splits(own: Callable[[dict[str, Any]], bool] | None, params: dict[str, Any]) -> bool:
    """Whether a sampling method's map at ``params`` comes with its halves: never under
    smoothing (its noisy copies are noise both halves would share), else where its even draws
    or its ``own`` rule split."""
    if params.get("smooth", "none") != "none":
        return False
    return splits_draws(params) or bool(own and own(params))


def method_name(key: str) -> str:
    """The name people read for a method key (``"integrated_gradients"`` -> "Integrated
    Gradients"); a key the registry does not hold (an older results file's) stays as it is."""
    return REGISTRY[key].name if key in REGISTRY else key


def get_spec(method: str) -> ExplainerSpec:
    if method not in REGISTRY:
        raise ParameterError(f"unknown method {method!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[method]
