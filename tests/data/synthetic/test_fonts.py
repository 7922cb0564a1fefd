from pathlib import Path

import matplotlib
import numpy as np
import pytest

from svhn_xai.data.synthetic.fonts import (
    FONT_PACKAGES,
    font,
    font_paths,
    renders_ten_digits,
)


def test_extended_set_adds_every_font_package_to_matplotlibs():
    plain, extended = font_paths("matplotlib"), font_paths("extended")
    assert extended[: len(plain)] == plain and len(extended) >= len(plain) + 40
    folders = {p.parent.parent.name for p in extended[len(plain) :]}
    assert folders == set(FONT_PACKAGES)  # every package gives at least one face
    assert not any("Thin" in p.stem or "ExtraLight" in p.stem for p in extended)


@pytest.mark.parametrize("size", [14, 48])  # the generator's smallest and largest glyphs
def test_every_font_renders_ten_distinct_digits_at_the_generators_sizes(size):
    for path in font_paths("extended"):
        face = font(path, size)
        glyphs = [bytes(face.getmask(str(d))) for d in range(10)]
        assert all(glyphs) and len(set(glyphs)) == 10, path.name


def test_fonts_without_ten_distinct_digits_are_refused():
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    assert not renders_ten_digits(folder / "LastResortHE-Regular.ttf")  # one box for every glyph
    assert not renders_ten_digits(folder / "STIXSizOneSymReg.ttf")  # no digits at all
    assert renders_ten_digits(folder / "DejaVuSans.ttf")
    names = {p.stem for p in font_paths("extended")}
    assert not names & {"LastResortHE-Regular", "STIXSizOneSymReg", "cmsy10", "cmex10"}


def test_an_unknown_set_is_refused():
    with pytest.raises(ValueError, match="typefaces"):
        font_paths("comic")


def test_every_glyph_is_ink_not_a_missing_glyph_box():
    """A font without a digit draws the same 'missing' box for all of them: caught above as
    glyphs that are not distinct, here checked to differ in ink coverage too."""
    for path in font_paths("extended"):
        face = font(path, 32)
        ink = [np.asarray(face.getmask(str(d))).mean() for d in range(10)]
        assert len(set(np.round(ink, 3))) >= 5, path.name
