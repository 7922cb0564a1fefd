"""Private copies of the shared model that the methods run instead of it.

The shared model must never change while it is explained, not even for a moment, and the
methods would like a network that is cheaper to run than the one that was trained. Both are
served by a copy made once per model and per kind, cached, and made again when the shared
model's weights change:

- :func:`folded`: every BatchNorm folded into the convolution before it. In eval mode a
  BatchNorm is an affine map per channel, so the folded network computes the same function
  (up to float rounding) and has the same gradients, at one pass over each activation less per
  convolution, forward and backward. Every method that only calls the network (Captum's, the
  perturbation methods, the CAMs) runs on it; its weights are frozen, so that no backward pass
  computes a weight gradient.
- LRP's canonized copy (:func:`svhn_xai.explain.lrp.canonized`), whose BatchNorms are merged
  the same way (:func:`merge_batch_norms`).

The caller holds the shared model's lock (:func:`~svhn_xai.explain.base.explain` does), so a
copy is never used by two explanations at once.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable

import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

from svhn_xai.explain.hooks import submodules, without_hooks

_COPIES: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, tuple[tuple, torch.nn.Module]]] = (
    weakref.WeakKeyDictionary()
)


def _weights_state(model: torch.nn.Module) -> tuple:
    """Changes whenever a parameter or buffer of ``model`` is replaced or written in place."""
    return tuple(
        (t.data_ptr(), t._version)
        for m in submodules(model)
        for t in (*m._parameters.values(), *m._buffers.values())
        if t is not None
    )


def private_copy(
    model: torch.nn.Module, kind: str, build: Callable[[torch.nn.Module], torch.nn.Module]
) -> torch.nn.Module:
    """``build(model)``, cached per (model, ``kind``) until ``model``'s weights change.

    ``build`` gets a hook-free deep copy of ``model`` and may change it for good.
    """

    state = _weights_state(model)
    copies = _COPIES.setdefault(model, {})
    cached = copies.get(kind)
    if cached is None or cached[0] != state:
        # the copy must not inherit explain()'s pass counter or any other hook
        copies[kind] = (state, build(without_hooks(copy.deepcopy(model))))
    return copies[kind][1]


def merge_batch_norms(model: torch.nn.Module) -> None:
    """Merge, in place, each BatchNorm into the convolution registered right before it (as our
    blocks register them) and put an identity where the BatchNorm was; ``model`` is in eval
    mode and private (the folded copy, LRP's canonized copy)."""
    for module in list(model.modules()):
        names = list(module._modules)
        for conv_name, bn_name in zip(names, names[1:]):
            conv, bn = module._modules[conv_name], module._modules[bn_name]
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                module._modules[conv_name] = fuse_conv_bn_eval(conv, bn)
                module._modules[bn_name] = torch.nn.Identity()


def _fold(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` (a fresh copy, in eval mode) with its BatchNorms merged, frozen."""
    merge_batch_norms(model)
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError("a BatchNorm without a convolution right before it cannot be folded")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(memory_format=torch.channels_last).eval()


def folded(model: torch.nn.Module) -> torch.nn.Module:
    """A private copy of ``model`` with every BatchNorm folded into its convolution, frozen:
    the same outputs and input gradients as ``model`` (eval mode), computed with fewer passes."""
    if model.training:
        raise ValueError("only a model in eval() mode can be folded")
    return private_copy(model, "folded", _fold)
