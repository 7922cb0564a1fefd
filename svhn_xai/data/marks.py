"""Digit boxes a user marks on a photo: ``x0,y0,x1,y1[:LABEL]``, and which digit each holds.

The CLI's ``--box`` and the dashboard's box table both end here. A box without a label belongs to
the digit being explained; when every digit is explained at once (``--digit all``) there is no
such digit, so every box must carry its label.
"""

from __future__ import annotations

from dataclasses import dataclass

from svhn_xai.errors import SvhnXaiError


@dataclass(frozen=True)
class MarkedBox:
    """One digit box in photo pixels (half-open ``[x0, y0, x1, y1]``) and its digit, if given."""

    box: tuple[float, float, float, float]
    label: int | None = None

    def __str__(self) -> str:
        text = ",".join(f"{v:g}" for v in self.box)
        return text if self.label is None else f"{text}:{self.label}"


def parse_marked_box(text: str) -> MarkedBox:
    """``"x0,y0,x1,y1"`` or ``"x0,y0,x1,y1:LABEL"`` -> :class:`MarkedBox`; ValueError with a
    one-line message on anything else (four numbers, x0 < x1, y0 < y1, label a digit 0-9)."""
    coords, sep, label_text = text.strip().partition(":")
    try:
        x0, y0, x1, y1 = (float(v) for v in coords.split(","))
    except ValueError:
        raise ValueError(f"a box is x0,y0,x1,y1[:LABEL] in pixels, got {text!r}") from None
    if not x0 < x1 or not y0 < y1:
        raise ValueError(f"a box needs x0 < x1 and y0 < y1, got {text!r}")
    label = None
    if sep:
        if not label_text.strip().isdigit() or not 0 <= int(label_text) <= 9:
            raise ValueError(f"a box's label is a digit 0-9, got {label_text!r} in {text!r}")
        label = int(label_text)
    return MarkedBox((x0, y0, x1, y1), label)


def box_labels(marked: list[MarkedBox], digit: int | str) -> tuple[int, ...]:
    """The digit in each marked box: its own label, else ``digit`` (the one explained).

    Args:
        marked: the boxes as given.
        digit: the explained digit 0-9, or ``"all"`` when every digit is explained; then an
            unlabelled box belongs to no digit in particular.
    Raises:
        SvhnXaiError: ``digit`` is ``"all"`` and some box has no label.
    """
    if digit == "all":
        missing = [str(m) for m in marked if m.label is None]
        if missing:
            raise SvhnXaiError(
                f"with --digit all every --box needs its label (x0,y0,x1,y1:LABEL); "
                f"unlabelled: {' '.join(missing)}"
            )
    return tuple(int(digit) if m.label is None else m.label for m in marked)
