"""Read SVHN Format 1 annotations (``digitStruct.mat``) into a plain table, and cache it.

The official files are MATLAB v7.3 (HDF5); some copies in the wild were re-saved as MATLAB v5.
Both give the same table: a list of ``(name, digits)`` where each digit is a dict with ``label``
(0-9; the file's 10 is mapped to 0), ``left``, ``top``, ``width`` and ``height`` in pixels.
Walking the 33k entries of ``train`` means following ~400k HDF5 object references; that is done
with low-level h5py calls, in parallel processes, and the table is cached as JSON after one read.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from svhn_xai.errors import DataError

Digit = dict[str, float]
Table = list[tuple[str, list[Digit]]]

CACHE_VERSION = 1
CACHE_NAME = "digitStruct.cache.json"
_FIELDS = ("label", "left", "top", "width", "height")
_PARALLEL_FROM = 4096  # entries; below this, starting processes costs more than it saves


def _digit(values: dict[str, float]) -> Digit:
    label = int(values["label"])
    if label == 10:
        label = 0
    if not 0 <= label <= 9:
        raise DataError(f"digit label {label} is not a digit (expected 1-10)")
    return {"label": label, **{k: float(values[k]) for k in _FIELDS[1:]}}


def _read_array(dataset: Any) -> np.ndarray:
    """The whole of a low-level h5py dataset, in one read."""
    import h5py

    dtype = dataset.dtype
    if dataset.get_type().get_class() == h5py.h5t.REFERENCE:
        dtype = h5py.ref_dtype
    out = np.empty(dataset.shape, dtype=dtype)
    dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def _read_hdf5_range(path: Path, start: int, stop: int) -> Table:
    """Entries ``start:stop`` of a v7.3 file.

    h5py's high-level objects cost about 1 ms per reference followed; the low-level calls
    below (dereference, one read per dataset, each reference column read whole) are several
    times faster, which matters for 200k entries and their ~1.5M references.
    """
    import h5py

    table: Table = []
    with h5py.File(path, "r") as f:
        fid = f.id
        group = f["digitStruct"]
        names = group["name"][start:stop].ravel()
        bboxes = group["bbox"][start:stop].ravel()
        for name_ref, box_ref in zip(names, bboxes):
            codes = _read_array(h5py.h5r.dereference(name_ref, fid)).ravel()
            box = h5py.h5r.dereference(box_ref, fid)
            columns: dict[str, list[float]] = {}
            for key in _FIELDS:
                values = _read_array(h5py.h5d.open(box, key.encode()))
                if values.dtype == h5py.ref_dtype:  # several digits: one reference each
                    columns[key] = [
                        float(_read_array(h5py.h5r.dereference(r, fid)).flat[0])
                        for r in values.ravel()
                    ]
                else:  # a single digit stores the value itself
                    columns[key] = [float(values.flat[0])]
            count = len(columns["label"])
            if any(len(columns[k]) != count for k in _FIELDS):
                raise DataError(f"{path}: entry {len(table) + start} has ragged box columns")
            name = "".join(map(chr, codes.tolist()))
            table.append(
                (name, [_digit({k: columns[k][j] for k in _FIELDS}) for j in range(count)])
            )
    return table


def _entry_count(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return int(f["digitStruct"]["name"].shape[0])


def _read_hdf5_slice(args: tuple[Path, int, int]) -> Table:
    return _read_hdf5_range(*args)


def _read_hdf5(path: Path, workers: int | None = None) -> Table:
    """All entries, read by ``workers`` processes (default: all cores) when there are many."""
    count = _entry_count(path)
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or count < _PARALLEL_FROM:
        return _read_hdf5_range(path, 0, count)
    step = -(-count // (workers * 4))  # a few slices per process evens out the load
    jobs = [(path, s, min(s + step, count)) for s in range(0, count, step)]
    # spawn: the jobs are just (path, start, stop), and a fresh process inherits no h5py lock
    # from a threaded parent (the app); each child opens the file itself
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return [entry for part in pool.map(_read_hdf5_slice, jobs) for entry in part]


def _read_matlab_v5(path: Path) -> Table:
    import scipy.io

    mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    entries = np.atleast_1d(mat["digitStruct"])
    table: Table = []
    for entry in entries:
        boxes = np.atleast_1d(entry.bbox)
        digits = [_digit({k: float(getattr(b, k)) for k in _FIELDS}) for b in boxes]
        table.append((str(entry.name), digits))
    return table


def read_digit_struct(path: str | os.PathLike[str], workers: int | None = None) -> Table:
    """Parse ``digitStruct.mat`` (v7.3/HDF5 or v5) without any cache; see the module docstring.

    ``workers``: processes reading a large v7.3 file (default: all cores).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found")
    try:
        import h5py

        if h5py.is_hdf5(path):
            return _read_hdf5(path, workers)
        return _read_matlab_v5(path)
    except DataError:
        raise
    except Exception as exc:  # h5py and scipy raise many types for a damaged file
        raise DataError(
            f"{path} is not a readable digitStruct.mat ({type(exc).__name__}: {exc})"
        ) from exc


def _fingerprint(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _fallback_cache(path: Path) -> Path:
    """Where the cache goes when the data folder is read-only: the user's cache dir."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "svhn_xai"
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return base / f"{key}.{CACHE_NAME}"


def _load_cache(cache: Path, source: Path) -> Table | None:
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return None
    # an older layout or a changed digitStruct.mat means the cache is stale: parse again
    if data.get("version") != CACHE_VERSION or data.get("source") != _fingerprint(source):
        return None
    return [(name, digits) for name, digits in data["entries"]]


def _write_cache(cache: Path, source: Path, table: Table) -> bool:
    payload = {"version": CACHE_VERSION, "source": _fingerprint(source), "entries": table}
    tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, cache)
        return True
    except OSError:
        tmp.unlink(missing_ok=True)
        return False


def load_digit_struct(path: str | os.PathLike[str]) -> Table:
    """Like :func:`read_digit_struct`, but parse once and reuse a JSON cache beside the file.

    The cache lives next to ``digitStruct.mat`` as ``digitStruct.cache.json``, or in
    ``~/.cache/svhn_xai`` when that folder is read-only. It is ignored when its version or the
    source file's size or modification time differ.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found")
    for cache in (path.with_name(CACHE_NAME), _fallback_cache(path)):
        table = _load_cache(cache, path)
        if table is not None:
            return table
    table = read_digit_struct(path)
    if not _write_cache(path.with_name(CACHE_NAME), path, table):
        _write_cache(_fallback_cache(path), path, table)
    return table
