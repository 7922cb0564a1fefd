import pytest

from svhn_xai.data.marks import MarkedBox, box_labels, parse_marked_box
from svhn_xai.errors import SvhnXaiError


def test_parse_box_with_and_without_label():
    assert parse_marked_box("1,2,30,40") == MarkedBox((1.0, 2.0, 30.0, 40.0), None)
    assert parse_marked_box("1,2.5,30,40:7") == MarkedBox((1.0, 2.5, 30.0, 40.0), 7)
    assert str(parse_marked_box("1,2.5,30,40:7")) == "1,2.5,30,40:7"


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,2,3", "x0,y0,x1,y1"),
        ("5,2,3,40", "x0 < x1"),
        ("1,2,30,40:12", "digit 0-9"),
        ("1,2,30,40:x", "digit 0-9"),
    ],
)
def test_bad_boxes_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_marked_box(text)


def test_unlabelled_boxes_belong_to_the_explained_digit():
    marked = [MarkedBox((0, 0, 5, 5)), MarkedBox((5, 0, 9, 5), 2)]
    assert box_labels(marked, 3) == (3, 2)


def test_with_every_digit_each_box_needs_its_label():
    assert box_labels([MarkedBox((0, 0, 5, 5), 1), MarkedBox((5, 0, 9, 5), 2)], "all") == (1, 2)
    with pytest.raises(SvhnXaiError, match="unlabelled: 0,0,5,5"):
        box_labels([MarkedBox((0, 0, 5, 5)), MarkedBox((5, 0, 9, 5), 2)], "all")
