"""Numbers in sentences: the article a digit takes and a count with its noun, so that pages and
the CLI say "an 8" and "1 image", never "a 8" or "1 images"."""

from __future__ import annotations


def a_digit(digit: int) -> str:
    """``"a 3"``, ``"an 8"``: the article as the digit is spoken ("eight" starts with a vowel)."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "image")`` -> ``"1 image"``, ``count(3, "pass", "passes")`` -> ``"3 passes"``;
    thousands grouped (``"2,000 images"``)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
