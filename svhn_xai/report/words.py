"""Numbers in sentences: the article a digit takes and a count with its noun, so that pages and
the CLI say "an 8" and "1 image", never "a 8" or "1 images"."""

from __future__ import annotations

from typing import Any

from svhn_xai.data.indices import index_spans, learnt
from svhn_xai.scoring.metrics import BASELINES, DRAWN_BASELINES


def a_digit(digit: int) -> str:
    """``"a 3"``, ``"an 8"``: the article as the digit is spoken ("eight" starts with a vowel)."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


def baselines(drawn: bool) -> str:
    """The baselines that draw at random (``drawn``), or those that do not, in words: the
    ones an arrow on one photo weighs, and the ones it leaves to dataset scale."""
    return " and ".join(b.replace("_", " ") for b in BASELINES if (b in DRAWN_BASELINES) == drawn)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "image")`` -> ``"1 image"``, ``count(3, "pass", "passes")`` -> ``"3 passes"``;
    thousands grouped (``"2,000 images"``)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def probability(p: float) -> str:
    """A probability as a page shows it: two decimals, three where two would round it onto or
    across 0.5 (``0.496`` -> ``"0.496"``, not ``"0.50"`` beside "the model does not see")."""
    return f"{p:.3f}" if 0.495 <= p < 0.505 else f"{p:.2f}"


def photos(indices: str) -> str:
    """A 0-based index spec of a split (:func:`~svhn_xai.data.sources.index_spans`) as the
    photos' own numbers: ``"192:256"`` is ``"photos 193–256"``; several spans are joined
    (``"0:64,128:192"``)."""
    spans = [
        f"{(start or 0) + 1}–{stop}" if stop is not None else f"{(start or 0) + 1} on"
        for start, stop in index_spans(indices)
    ]
    return "photos " + ", ".join(spans)


def images_of(data: str | None, split: str | None, indices: str | None) -> str:
    """Images named by a data source, split and index spec, in words: SVHN's as ``"SVHN train
    photos 1–64"``, the generator's as ``"synthetic house numbers 1–64 of the generator's extra
    stream"`` (its splits are seeded streams of its own, not SVHN's splits of the same name)."""
    numbers = " " + photos(indices).removeprefix("photos ") if indices else ""
    if data == "synthetic":
        return f"synthetic house numbers{numbers} of the generator's {split} stream"
    what = f"SVHN {split} photos" if data == "svhn" else f"{data} {split} images"
    return what + numbers


def real_score_label(real: dict[str, Any], provenance: dict[str, Any]) -> str:
    """The label of a model card's score on real photos (``metrics.real``): which photos, and
    whether the model trained on them (then the score is not a test of it)."""
    indices = real.get("indices")
    if not indices:
        return "Bal. acc., real photos"
    seen = learnt_photos(real, provenance)
    return f"Bal. acc., {photos(indices)}" + (" (trained on)" if seen else ", held out")


def learnt_photos(real: dict[str, Any], provenance: dict[str, Any]) -> bool:
    """Whether the model trained on the shared sample's train photos its card's real-photo
    score (``metrics.real``) was measured on."""
    return learnt(provenance, "svhn", "train", real.get("indices"))


def learnt_image_note(provenance: dict[str, Any], data: str, split: str, index: int) -> str | None:
    """A warning, in words, when the model whose card's ``provenance`` this is trained on
    image ``index`` (0-based) of ``data``'s ``split``; None when it did not."""
    if not learnt(provenance, data, split, f"{index}:{index + 1}"):
        return None
    learnt_from = images_of(data, split, provenance.get("indices"))
    return (
        f"The model trained on this {'photo' if data == 'svhn' else 'image'} (it learnt from "
        f"{learnt_from}): its map shows what it memorised here, and its scores test nothing. "
        "One it never saw tests it."
    )


GUESSING = 0.6  # balanced accuracy under which a model is said to guess (chance is 0.5)


def guessing_note(test: dict[str, Any]) -> str | None:
    """A warning, in words, when a model's ``test`` scores (a card's ``metrics["test"]``, or an
    epoch's) put its balanced accuracy on held-out images under :data:`GUESSING`: its maps then
    explain guesses. None when it reads digits, or was never scored."""
    score = test.get("balanced_accuracy")
    if score is None or score >= GUESSING:
        return None
    return (
        f"A balanced accuracy of {score:.1%} on held-out images is close to chance (50 %): this "
        "model has not learnt to read digits yet, and its explanations explain guesses."
    )


def trained_on(provenance: dict[str, Any]) -> str:
    """What a model card's ``provenance`` says the weights learnt from, in one phrase; a
    fine-tuned model names the model it started from the same way, and a mix says what each
    epoch holds besides the photos."""
    parts = [photos(provenance["indices"])] if provenance.get("indices") else []
    mixed = {
        "recomposed": provenance.get("mix_recomposed"),
        "synthetic": provenance.get("mix_synthetic"),
    }
    mixed = {k: v for k, v in mixed.items() if v}
    if "n_train" in provenance and parts and mixed:
        own = provenance["n_train"] - sum(mixed.values())
        added = " and ".join(
            count(n, "house number recomposed from their digits", "house numbers recomposed "
                  "from their digits") if k == "recomposed" else f"{n:,} synthetic ones"
            for k, n in mixed.items()
        )  # fmt: skip
        parts = [f"{parts[0]} repeated to {count(own, 'image')}, with {added}: "
                 f"{count(provenance['n_train'], 'image')} an epoch"]  # fmt: skip
    elif "n_train" in provenance:
        images = count(provenance["n_train"], "image")
        parts.append(f"{images} an epoch" if parts else images)  # photos repeat, with others
    what = f"{provenance.get('data', '?')} data" + (f" ({', '.join(parts)})" if parts else "")
    start = (provenance.get("init") or {}).get("provenance")
    return what + (f", fine-tuned from a model trained on {trained_on(start)}" if start else "")
