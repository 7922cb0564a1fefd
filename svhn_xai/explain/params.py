"""Explainer parameters: each declared once with its type, default, range and meaning."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from svhn_xai.errors import ParameterError


@dataclass(frozen=True)
class Param:
    """One tunable parameter of an explainer.

    ``kind`` is ``int``, ``float``, ``bool`` or ``choice``; numbers have an inclusive
    ``[low, high]`` range, choices a tuple of allowed strings. ``cost`` marks parameters that
    scale the run time linearly (the UI warns before slow settings). ``runs_on(choice,
    device)``, for a choice that needs hardware, says whether it runs on a ``torch.device``.
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)
    cost: bool = False
    runs_on: Callable[[str, Any], bool] | None = None

    def choices_on(self, device: Any) -> tuple[str, ...]:
        """The choices that run on ``device`` (a ``torch.device``), in their order."""
        if self.runs_on is None:
            return self.choices
        return tuple(c for c in self.choices if self.runs_on(c, device))

    def parse(self, value: Any) -> Any:
        """Coerce ``value`` (also from a CLI string) and check it; raise ParameterError."""
        try:
            if self.kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                value = int(value)
            elif self.kind == "float":
                value = float(value)
            elif self.kind == "bool":
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = value.lower() in ("true", "1", "yes")
                value = bool(value)
            elif self.kind == "choice":
                value = str(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name} must be {self.describe()}, got {value!r}") from None
        numeric = self.kind in ("int", "float")
        if numeric and (value != value or not self.low <= value <= self.high):  # NaN fails too
            raise ParameterError(f"{self.name} must be {self.describe()}, got {value!r}")
        if self.kind == "choice" and value not in self.choices:
            raise ParameterError(f"{self.name} must be {self.describe()}, got {value!r}")
        return value

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        return f"a{'n integer' if self.kind == 'int' else ' number'} in [{self.low}, {self.high}]"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "default": self.default, "help": self.help}
        if self.kind in ("int", "float"):
            out["range"] = [self.low, self.high]
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        return out


def validate(params: tuple[Param, ...], given: dict[str, Any], method: str) -> dict[str, Any]:
    """Defaults filled in, every value checked; unknown names are refused with the known ones."""
    known = {p.name: p for p in params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(known) or "none"
        raise ParameterError(f"{method} has no parameter {', '.join(unknown)} (it takes: {names})")
    return {name: p.parse(given[name]) if name in given else p.default for name, p in known.items()}
