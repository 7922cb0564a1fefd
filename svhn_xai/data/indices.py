"""Index specs: ``"START:STOP"`` slices of a split, several joined by commas, as the CLI, the
model cards and the cross-validation folds name the images they use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from svhn_xai.errors import DataError


def index_spans(text: str) -> list[tuple[int | None, int | None]]:
    """The ``(start, stop)`` of each slice of an index spec: ``"START:STOP"`` (0-based, either
    end optional, None where left out), several joined by commas (``"0:64,128:192"``, how a
    cross-validation fold names the photos it trains on). Every reader of a spec (selecting
    images, saying which photos in words, telling whether two specs share an image) parses it
    here, so that they cannot disagree on what it names."""
    spans = []
    for part in text.split(","):
        try:
            start, stop = (int(p) if p.strip() else None for p in part.split(":"))
        except ValueError:
            raise DataError(
                f"indices must look like 'START:STOP' (e.g. 0:128), or several joined by commas, "
                f"got {text!r}"
            ) from None
        spans.append((start, stop))
    return spans


def parse_indices(text: str | None, length: int) -> Sequence[int]:
    """An index spec (:func:`index_spans`; None: all of it) to the indices it selects within
    ``length``, slices in the order given; each must select something and none may overlap."""
    if text is None:
        return range(length)
    picked: list[range] = []
    for start, stop in index_spans(text):
        selected = range(length)[slice(start, stop)]
        if len(selected) == 0:
            shown = ":".join("" if end is None else str(end) for end in (start, stop))
            raise DataError(f"indices {shown} select no images out of {length}")
        if any(
            max(selected.start, e.start) < min(selected.stop, e.stop) for e in picked
        ):  # slices of a range keep step 1, so two overlap where their bounds interleave
            raise DataError(f"indices {text!r}: the slices overlap")
        picked.append(selected)
    if len(picked) == 1:
        return picked[0]
    return tuple(i for span in picked for i in span)


def overlap(a: str | None, b: str | None, limit: int | None) -> bool:
    """Whether two index specs of one split ('START:STOP', several joined by commas; None: all
    of it) share an image; ``limit`` caps ``b`` to its first images, as evaluate's --limit does."""

    def spans(text: str | None) -> list[tuple[int, float]]:
        if text is None:
            return [(0, float("inf"))]
        return [
            (start or 0, float("inf") if stop is None else stop)
            for start, stop in index_spans(text)
        ]

    b_spans = spans(b)
    if limit is not None:  # only the first `limit` images of b, span by span
        capped, left = [], float(limit)
        for b0, b1 in b_spans:
            if left > 0:
                capped.append((b0, min(b1, b0 + left)))
                left -= min(b1, b0 + left) - b0
        b_spans = capped
    return any(a0 < b1 and b0 < a1 for a0, a1 in spans(a) for b0, b1 in b_spans)


def learnt(provenance: dict[str, Any], data: str, split: str, indices: str | None) -> bool:
    """Whether a model whose card's ``provenance`` names the data, split and indices it learnt
    from trained on any of ``data``'s ``split`` images at ``indices``: scores or choices made
    on those images would measure what it memorised."""
    same_split = (data, split) == (provenance.get("data"), provenance.get("split"))
    return same_split and overlap(indices, provenance.get("indices"), None)
