"""Numbers in sentences: the article a digit takes and a count with its noun, so that pages and
the CLI say "an 8" and "1 image", never "a 8" or "1 images"."""

from __future__ import annotations

from typing import Any

from svhn_xai.data.indices import index_spans


def a_digit(digit: int) -> str:
    """``"a 3"``, ``"an 8"``: the article as the digit is spoken ("eight" starts with a vowel)."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "image")`` -> ``"1 image"``, ``count(3, "pass", "passes")`` -> ``"3 passes"``;
    thousands grouped (``"2,000 images"``)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def photos(indices: str) -> str:
    """A 0-based index spec of a split (:func:`~svhn_xai.data.sources.index_spans`) as the
    photos' own numbers: ``"192:256"`` is ``"photos 193–256"``; several spans are joined
    (``"0:64,128:192"``)."""
    spans = [
        f"{(start or 0) + 1}–{stop}" if stop is not None else f"{(start or 0) + 1} on"
        for start, stop in index_spans(indices)
    ]
    return "photos " + ", ".join(spans)


def trained_on(provenance: dict[str, Any]) -> str:
    """What a model card's ``provenance`` says the weights learnt from, in one phrase; a
    fine-tuned model names the model it started from the same way."""
    parts = [photos(provenance["indices"])] if provenance.get("indices") else []
    if "n_train" in provenance:
        images = count(provenance["n_train"], "image")
        parts.append(f"{images} an epoch" if parts else images)  # photos repeat, with others
    what = f"{provenance.get('data', '?')} data" + (f" ({', '.join(parts)})" if parts else "")
    start = (provenance.get("init") or {}).get("provenance")
    return what + (f", fine-tuned from a model trained on {trained_on(start)}" if start else "")
