"""Synthetic house numbers with exact per-digit boxes: the offline default data source.

Each item is a seeded scene (:mod:`.generator`): 1-5 digits in one of the fonts that matplotlib
ships (:mod:`.fonts`), thickened or condensed, ink and plate colours of either polarity (mostly
dull, as paint and weathered plates are), a textured wall, a plate with or without a frame
(:mod:`.scene`), small rotation and shear, blur, noise, the softness of a photo taken from afar,
JPEG artefacts (:mod:`.camera`), and now and then a digit or letter of a neighbouring sign cut
by the crop's edge (not labelled, as in SVHN). Boxes are measured on the rendered ink after
every geometric change, so they are exact; they are then padded a little, the way SVHN's
annotators drew them. Items are :class:`HouseNumber` records, like the real reader's.

Options, each off by default (:class:`Style`): more typefaces, walls cut from real photos,
perspective and motion blur. And real digits recomposed into new house numbers
(:mod:`.recompose`, from :class:`RealParts`). Optionally a planted shortcut (:mod:`.cue`).
"""

from svhn_xai.data.synthetic.cue import Cue, CuedHouseNumber, cue_box, cue_rng, plant_cue
from svhn_xai.data.synthetic.fonts import TYPEFACES, font_paths
from svhn_xai.data.synthetic.generator import (
    DIGIT_COUNT_PROBS,
    PLAIN,
    Style,
    SyntheticHouseNumbers,
    make_house_number,
)
from svhn_xai.data.synthetic.real_parts import DigitCut, RealParts
from svhn_xai.data.synthetic.recompose import RecomposedHouseNumber, RecomposedHouseNumbers

__all__ = [
    "DIGIT_COUNT_PROBS",
    "PLAIN",
    "TYPEFACES",
    "Cue",
    "CuedHouseNumber",
    "DigitCut",
    "RealParts",
    "RecomposedHouseNumber",
    "RecomposedHouseNumbers",
    "Style",
    "SyntheticHouseNumbers",
    "cue_box",
    "cue_rng",
    "font_paths",
    "make_house_number",
    "plant_cue",
]
