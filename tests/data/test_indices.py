import pytest

from svhn_xai.data.indices import index_spans, overlap, parse_indices
from svhn_xai.errors import DataError
from svhn_xai.report.words import photos


def test_indices_slice_the_split():
    assert parse_indices("2:5", 10) == range(2, 5)
    assert parse_indices(":3", 10) == range(0, 3)
    assert parse_indices(None, 4) == range(4)
    with pytest.raises(DataError):
        parse_indices("5:2", 10)


def test_several_slices_select_their_photos_in_order_and_may_not_overlap():
    assert list(parse_indices("0:2,5:7", 10)) == [0, 1, 5, 6]
    assert list(parse_indices("8:,0:1", 10)) == [8, 9, 0]
    with pytest.raises(DataError, match="overlap"):
        parse_indices("0:5,4:6", 10)
    with pytest.raises(DataError, match="select no images"):
        parse_indices("0:2,20:30", 10)


def test_a_spec_reads_as_its_spans_with_open_ends_left_none():
    assert index_spans("0:64,128:192") == [(0, 64), (128, 192)]
    assert index_spans(":3, 8:") == [(None, 3), (8, None)]


@pytest.mark.parametrize("spec", ["1:2:3", "1-5", "a:b", "3"])
def test_every_reader_of_a_spec_refuses_what_selecting_refuses(spec):
    """Selecting images, naming the photos and the training-overlap check read one parser: a
    spec none of them can read is refused by all three alike, never half-read by one."""
    for read in (
        lambda: parse_indices(spec, 10),
        lambda: photos(spec),
        lambda: overlap(spec, "0:5", None),
    ):
        with pytest.raises(DataError, match="START:STOP"):
            read()
