import json

import numpy as np
import pytest
import scipy.io

from svhn_xai.data import digit_struct
from svhn_xai.data.digit_struct import CACHE_NAME, load_digit_struct, read_digit_struct
from svhn_xai.errors import DataError
from tests.svhn_files import SMALL_ENTRIES, write_digit_struct_v73


def test_v73_single_and_multi_digit_entries_with_zero(tmp_path):
    path = tmp_path / "digitStruct.mat"
    write_digit_struct_v73(path, SMALL_ENTRIES)
    table = read_digit_struct(path)
    assert [name for name, _ in table] == ["1.png", "2.png", "3.png"]
    assert [d["label"] for d in table[0][1]] == [1, 0]  # 10 -> 0
    assert table[1][1] == [{"label": 7, "left": 4.0, "top": 2.0, "width": 6.0, "height": 12.0}]
    assert [d["left"] for d in table[2][1]] == [-2.0, 30.0, 42.0]


def test_parallel_read_keeps_the_official_order(tmp_path, monkeypatch):
    # 40 entries cycling through 1-, 2- and 3-digit boxes, each entry's left edge = its index
    entries = [
        (f"{i + 1}.png", [(d[0], float(i), *d[2:]) for d in SMALL_ENTRIES[i % 3][1]])
        for i in range(40)
    ]
    path = tmp_path / "digitStruct.mat"
    write_digit_struct_v73(path, entries)
    serial = read_digit_struct(path, workers=1)
    monkeypatch.setattr(digit_struct, "_PARALLEL_FROM", 10)
    parallel = read_digit_struct(path, workers=2)  # 8 slices over 2 processes
    assert parallel == serial
    assert [name for name, _ in parallel] == [f"{i + 1}.png" for i in range(40)]
    assert [digits[0]["left"] for _, digits in parallel] == [float(i) for i in range(40)]
    assert [len(digits) for _, digits in parallel[:3]] == [2, 1, 3]


def test_matlab_v5_resave_reads_the_same(tmp_path):
    entries = np.empty((1, 2), dtype=[("name", object), ("bbox", object)])
    for i, (name, digits) in enumerate(SMALL_ENTRIES[:2]):
        box = np.empty(
            (1, len(digits)),
            dtype=[(k, object) for k in ("height", "label", "left", "top", "width")],
        )
        for j, (label, left, top, width, height) in enumerate(digits):
            box[0, j] = (height, label, left, top, width)
        entries[0, i] = (name, box)
    path = tmp_path / "v5.mat"
    scipy.io.savemat(path, {"digitStruct": entries})
    v73 = tmp_path / "v73.mat"
    write_digit_struct_v73(v73, SMALL_ENTRIES[:2])
    assert read_digit_struct(path) == read_digit_struct(v73)


def test_cache_is_written_reused_and_refreshed_when_stale(tmp_path):
    path = tmp_path / "digitStruct.mat"
    write_digit_struct_v73(path, SMALL_ENTRIES)
    first = load_digit_struct(path)
    cache = tmp_path / CACHE_NAME
    assert cache.is_file()
    data = json.loads(cache.read_text())
    data["entries"][0][0] = "poisoned.png"
    cache.write_text(json.dumps(data))
    assert load_digit_struct(path)[0][0] == "poisoned.png"  # the cache really is read
    data["version"] = 0  # written by an older release: must be parsed again
    cache.write_text(json.dumps(data))
    assert load_digit_struct(path) == first


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "digitStruct.mat"
    path.write_bytes(b"not a mat file at all")
    with pytest.raises(DataError, match="not a readable digitStruct.mat"):
        read_digit_struct(path)
