from pathlib import Path

import numpy as np
import pytest

from svhn_xai.data.sources import open_source
from svhn_xai.data.svhn import SVHNFolder
from svhn_xai.errors import DataError
from tests.svhn_files import SMALL_ENTRIES, SMALL_SIZES, write_split

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "svhn"
SHARED_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "svhn-sample" / "train"


def test_folder_with_digit_struct(tmp_path):
    write_split(tmp_path / "test", SMALL_ENTRIES, SMALL_SIZES)
    folder = SVHNFolder(tmp_path / "test")
    assert len(folder) == 3
    item = folder[0]
    assert item.labels == (1, 0)
    assert item.image.shape == (30, 40, 3)
    assert item.boxes.tolist() == [[10, 5, 18, 25], [18, 6, 27, 26]]
    # 3.png: the first box starts left of the image and the others run below it
    assert folder[2].boxes.tolist() == [[0, 3, 8, 33], [30, 1, 42, 35], [42, 2, 50, 35]]


def test_real_fixture_images_read_in_official_order():
    folder = SVHNFolder(FIXTURES / "train")
    assert len(folder) == 12
    item = folder[1]  # index 1 is 2.png
    assert item.name == "train/2.png"
    assert item.labels == (2, 3)
    assert item.image.shape == (83, 199, 3)
    assert item.boxes.tolist() == [[77, 29, 100, 61], [98, 25, 124, 57]]
    # the labels alone, from the annotations, as the items carry them; a slice keeps them
    assert [folder.labels(i) for i in range(12)] == [folder[i].labels for i in range(12)]
    part = open_source("svhn", "train", FIXTURES, indices="1:3")
    assert part.labels(0) == (2, 3) and not hasattr(open_source("synthetic", "test"), "labels")


@pytest.mark.skipif(
    not SHARED_SAMPLE.is_dir(), reason="../shared/svhn-sample is not beside the repo"
)
def test_shared_real_sample_reads_whole():
    folder = SVHNFolder(SHARED_SAMPLE)
    assert len(folder) == 256
    counts = np.zeros(10, int)
    for i in range(len(folder)):
        item = folder[i]
        assert item.image.ndim == 3 and len(item.labels) >= 1
        assert (item.boxes[:, 2] <= item.image.shape[1]).all()
        counts[list(item.labels)] += 1
    assert counts.sum() > 256 and (counts > 0).all()


def test_missing_images_are_named(tmp_path):
    write_split(tmp_path / "test", SMALL_ENTRIES, SMALL_SIZES)
    (tmp_path / "test" / "2.png").unlink()
    with pytest.raises(DataError, match=r"1 of 3 images .* missing \(first: 2.png\)"):
        SVHNFolder(tmp_path / "test")


def test_missing_folder_and_unknown_split_are_clear(tmp_path):
    with pytest.raises(DataError, match="download it"):
        open_source("svhn", "test", tmp_path)
    with pytest.raises(DataError, match="unknown split"):
        open_source("svhn", "validation", tmp_path)
    with pytest.raises(DataError, match="needs --root"):
        open_source("svhn", "test", None)


def test_corrupt_png_is_a_clear_error(tmp_path):
    write_split(tmp_path / "test", SMALL_ENTRIES, SMALL_SIZES)
    (tmp_path / "test" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    folder = SVHNFolder(tmp_path / "test")
    with pytest.raises(DataError, match="1.png"):
        folder[0]


def test_indices_select_their_photos():
    source = open_source("svhn", "train", FIXTURES, indices="1:3")
    assert [source[i].name for i in range(len(source))] == ["train/2.png", "train/3.png"]
