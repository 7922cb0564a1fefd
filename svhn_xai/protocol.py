"""The scoring protocol: how a heatmap becomes a mask, described once for the CLI, the app and
``evaluate``.

Every front end builds its threshold controls from :data:`THRESHOLD_MODES` and starts from
:data:`DEFAULT_PROTOCOL`, so that changing the default here changes it everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from svhn_xai.heatmap import THRESHOLD_MODES as _MODE_KEYS


@dataclass(frozen=True)
class ThresholdMode:
    """One way of cutting a [0, 1] heatmap into a mask, as a front end presents it.

    ``param`` is the label of the mode's one parameter (None when it takes none), with its
    range ``low``..``high``, ``default`` and slider ``step``.
    """

    key: str
    label: str
    help: str
    param: str | None = None
    low: float = 0.0
    high: float = 1.0
    default: float = 0.0
    step: float = 0.01

    def check(self, value: float) -> None:
        """Raise ValueError with a one-line message when ``value`` is out of this mode's range."""
        if self.param is not None and not self.low <= value <= self.high:
            raise ValueError(
                f"{self.param} for threshold mode {self.key!r} must be in "
                f"[{self.low:g}, {self.high:g}], got {value:g}"
            )


THRESHOLD_MODES: dict[str, ThresholdMode] = {
    "value": ThresholdMode(
        "value",
        "Value",
        "Pixels whose normalised heat is above the threshold are active.",
        "Threshold",
        0.0,
        1.0,
        0.5,
        0.01,
    ),
    "topk": ThresholdMode(
        "topk",
        "Top-k %",
        "The k per cent hottest pixels are active.",
        "Top-k %",
        1.0,
        100.0,
        10.0,
        1.0,
    ),
    "otsu": ThresholdMode(
        "otsu", "Otsu", "Otsu's method picks the threshold from the heatmap's histogram."
    ),
}
assert tuple(THRESHOLD_MODES) == _MODE_KEYS, "heatmap.threshold and the protocol disagree"


@dataclass(frozen=True)
class Protocol:
    """A complete mask rule: threshold ``mode`` and its ``value``."""

    mode: str
    value: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


DEFAULT_PROTOCOL = Protocol("value", 0.5)
