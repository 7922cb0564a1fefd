"""The typefaces synthetic house numbers are drawn in.

Two sets: ``matplotlib``, the fonts matplotlib ships (DejaVu, STIX, Computer Modern: the shipped
model learnt from these), and ``extended``, those plus the font files of the PyPI packages in
``requirements.txt`` — Roboto and Caladea (Apache 2.0), Lato, Source Sans, Source Serif, Hanken
Grotesk, Fredoka One, Amatic SC and Intuitive (SIL Open Font Licence) — in every weight from
light to black: grotesque, humanist, serif, rounded and condensed hand-lettered digits, which
house-number plates use and matplotlib's book faces do not.

A font is kept only where its ten digits render as ten distinct, non-empty glyphs (symbol fonts
map the digit code points to other shapes, or to nothing).
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

from PIL import ImageFont

TYPEFACES = ("matplotlib", "extended")
# the PyPI packages (import names) whose `files/` folder holds the extended set's fonts
FONT_PACKAGES = (
    "font_roboto",
    "font_lato",
    "font_source_sans_pro",
    "font_source_serif_pro",
    "font_caladea",
    "font_hanken_grotesk",
    "font_fredoka_one",
    "font_amatic_sc",
    "font_intuitive",
)
_SYMBOL_FONTS = ("cmex10", "cmsy10")  # map the digit code points to math symbols
# strokes too fine for a plate read from the street; a font's other weights stay
_HAIRLINE = ("Thin", "ExtraLight")


def renders_ten_digits(path: Path) -> bool:
    """Whether the font at ``path`` draws 0-9 as ten distinct, non-empty glyphs."""
    font = ImageFont.truetype(str(path), 32)
    glyphs = []
    for ch in "0123456789":
        mask = font.getmask(ch)
        glyphs.append(bytes(mask) if mask.size[0] * mask.size[1] else b"")
    return all(glyphs) and len(set(glyphs)) == 10


def _matplotlib_files() -> list[Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [p for p in sorted(folder.glob("*.ttf")) if p.stem not in _SYMBOL_FONTS]


def _package_files() -> list[Path]:
    """Every font file of :data:`FONT_PACKAGES`, one file per face (TrueType preferred where a
    package ships a face twice), hairline weights left out."""
    files: dict[str, Path] = {}
    for package in FONT_PACKAGES:
        try:
            folder = Path(str(importlib.resources.files(package) / "files"))
        except ModuleNotFoundError:
            raise RuntimeError(
                f"the font package {package!r} is missing: pip install -r requirements.txt"
            ) from None
        for path in sorted(folder.iterdir()):
            face = path.stem
            if path.suffix not in (".ttf", ".otf") or any(w in face for w in _HAIRLINE):
                continue
            if face not in files or path.suffix == ".ttf":
                files[face] = path
    return [files[face] for face in sorted(files)]


@functools.lru_cache(maxsize=len(TYPEFACES))
def font_paths(typefaces: str = "matplotlib") -> tuple[Path, ...]:
    """The usable fonts of set ``typefaces`` (see the module docstring), in a fixed order."""
    if typefaces not in TYPEFACES:
        raise ValueError(f"typefaces must be one of {', '.join(TYPEFACES)}, got {typefaces!r}")
    candidates = _matplotlib_files()
    if typefaces == "extended":
        candidates += _package_files()
    usable = tuple(p for p in candidates if renders_ten_digits(p))
    if not usable:
        raise RuntimeError(f"no font of the {typefaces!r} set draws ten distinct digits")
    return usable


@functools.lru_cache(maxsize=512)
def font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """The font at ``path``, ``size`` pixels (cached: a run draws from a few dozen)."""
    return ImageFont.truetype(str(path), size)
