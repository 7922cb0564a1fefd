"""What a method runs on: the explained input, the target head (or a contrast of two heads),
and a model that records the probability of the image from the method's own first pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from svhn_xai.explain.sharing import distinct_rows
from svhn_xai.model.network import DigitResNet18


class Contrast(torch.nn.Module):
    """``model``'s logit of head ``head`` minus that of head ``other``, one column (N, 1).

    "Why D and not E" as a network of its own, so that every method that explains an output
    column (Captum's, the perturbation methods) explains the difference without knowing it.
    """

    def __init__(self, model: torch.nn.Module, head: int, other: int) -> None:
        super().__init__()
        self.model = model
        self.head = head
        self.other = other

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[:, self.head, None] - out[:, self.other, None]


class CleanFirst(torch.nn.Module):
    """``net`` with the clean images ``x`` (N, 3, S, S) appended to its first batch, and their
    rows' outputs dropped again: for methods whose own passes see only changed copies of ``x``
    (GradientShap's noisy samples, LIME's and RISE's masked copies), so that :func:`explain`
    reads the probability from a pass they make anyway at the cost of one more row in it."""

    def __init__(self, net: torch.nn.Module, x: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.x = x
        self.pending = True

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        if not self.pending:
            return self.net(batch)
        self.pending = False
        return self.net(torch.cat([batch, self.x.to(batch)]))[: len(batch)]


@dataclass
class Context:
    """What a method gets: the model, the input (N, 3, S, S) in [0, 1], what to explain.

    The explained quantity is ``net(x)[:, target]``: the logit of head ``head``, or, with
    ``contrast`` set, that logit minus the logit of head ``contrast``. Methods that hold the
    model themselves (CAM, LRP) use :meth:`output_weights`, the same quantity as a weighting of
    the model's logits. N is 1, or, for a method registered ``batched`` explained by
    :func:`explain_batch`, the batch, with ``heads`` one head per row (and no contrast).
    """

    model: DigitResNet18
    x: torch.Tensor
    head: int
    params: dict[str, Any]
    progress: Callable[[float], None] | None = None
    model_passes: int = 0  # images through the model; a hook on ``model`` counts its passes
    contrast: int | None = None  # head of the digit E in "why D and not E"
    # explain()'s forward hook: counts passes and reads the probability from the one holding x
    observe: Callable[[torch.nn.Module, tuple, torch.Tensor], None] | None = None
    heads: tuple[int, ...] | None = None  # one head per row of x, for a batch

    # what the methods run: the model with its BatchNorms folded (:func:`folded`), set by
    # explain() under the model's lock; the model itself where it is not set
    runner: torch.nn.Module | None = None
    # set by explain() to a list for one image: a sampling method that can appends, with
    # :meth:`split`, the estimates each half of its samples gives (svhn_xai.explain.halves)
    halves: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    @property
    def network(self) -> torch.nn.Module:
        """The network the methods call and hook: the same function as :attr:`model`."""
        return self.model if self.runner is None else self.runner

    @cached_property
    def net(self) -> torch.nn.Module:
        """The network whose output column :attr:`target` is explained."""
        if self.contrast is None:
            return self.network
        return Contrast(self.network, self.head, self.contrast)

    @contextmanager
    def watching(self, copy: torch.nn.Module) -> Iterator[None]:
        """Count the passes of ``copy``, a private copy of the model that a method runs instead
        (LRP's canonized one), as the model's own are counted, while the block runs."""
        handle = copy.register_forward_hook(self.observe) if self.observe else None
        try:
            yield
        finally:
            if handle is not None:
                handle.remove()

    def split(self, first: torch.Tensor, second: torch.Tensor) -> None:
        """Record the maps (N, 3, S, S) that each half of the samples just drawn gives, in the
        units of the method's map, where :attr:`halves` asks for them."""
        if self.halves is not None:
            self.halves.append((first.detach(), second.detach()))

    def saw(self, images: torch.Tensor, logits: torch.Tensor) -> None:
        """Count ``images`` (B, 3, S, S), with their ``logits`` (B, outputs), as a pass of the
        model, for a method that runs the network's layers without calling it (Integrated
        Gradients), so that :attr:`observe` never saw them."""
        if self.observe is not None:
            self.observe(self.network, (images,), logits)

    @cached_property
    def copies(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The copies of one image that :attr:`x` holds (a batch of pairs holds a photo once
        per digit explained in it), as :func:`~svhn_xai.explain.sharing.distinct_rows` groups
        them: ``(first, group)``, or None when every image is distinct."""
        return distinct_rows(self.x)

    @property
    def distinct_images(self) -> int:
        """How many different images :attr:`x` holds."""
        return len(self.x) if self.copies is None else len(self.copies[0])

    def net_with_clean_pass(self) -> torch.nn.Module:
        """:attr:`net` for a method none of whose passes sees ``x`` unchanged (see
        :class:`CleanFirst`)."""
        return CleanFirst(self.net, self.x)

    @property
    def target(self) -> int | list[int]:
        """The explained output column, as Captum takes it: one for all rows, or one per row."""
        if self.heads is not None:
            return list(self.heads)
        return self.head if self.contrast is None else 0

    def output_weights(self, outputs: int) -> torch.Tensor:
        """Weights w of the model's logits with explained quantity = (logits * w).sum(-1):
        (outputs,), or (N, outputs), a row per image, for a batch."""
        if self.heads is not None:
            w = torch.zeros(len(self.heads), outputs, dtype=self.x.dtype, device=self.x.device)
            w[torch.arange(len(self.heads)), list(self.heads)] = 1
            return w
        w = torch.zeros(outputs, dtype=self.x.dtype, device=self.x.device)
        w[self.head] = 1
        if self.contrast is not None:
            w[self.contrast] = -1
        return w
