"""Download and unpack an official SVHN Format 1 split (``train``, ``test`` or ``extra``).

Safety rules, in order:
- each official archive's size and MD5 are pinned (:data:`PINNED`); a server that announces
  another size is refused before any byte is written;
- the free disk space must hold the rest of the archive plus a conservative bound on the
  unpacked split (:func:`space_needed`), checked before the transfer starts;
- bytes go to ``NAME.tar.gz.part``; an interrupted download resumes from there with an HTTP
  Range request, and a ``.part`` is never taken for a finished archive;
- the finished file must have the pinned size and MD5 before it is renamed to ``NAME.tar.gz``;
  an archive already there is checked the same way before it is unpacked;
- extraction goes to a temporary folder that is renamed to ``ROOT/NAME`` only when every
  member unpacked and ``digitStruct.mat`` is present; an existing split folder is never touched.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from svhn_xai.data.svhn import SPLITS
from svhn_xai.errors import DownloadError

BASE_URL = "http://ufldl.stanford.edu/housenumbers"
Progress = Callable[[int, int | None], None]
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """What an official ``SPLIT.tar.gz`` must be: ``size`` in bytes, ``md5`` hex digest, and
    the number of images it unpacks to."""

    size: int
    md5: str
    images: int


# As recorded by a public dataset mirror that downloaded the official archives.
PINNED: dict[str, Archive] = {
    "train": Archive(404_141_560, "a649f4cb15c35520e8a8c342d4c0005a", 33_402),
    "test": Archive(276_555_967, "790d9c8d42f1fcbd219b59956c853a81", 13_068),
    "extra": Archive(1_955_489_752, "606f41243d71ca4d5fe66dbaf1f02bee", 202_353),
}
# The PNGs inside are already compressed, so gzip shrinks them little; twice the archive plus
# one 4 KiB file-system block per image bounds the unpacked folder from above.
UNPACK_FACTOR = 2.0
BLOCK_BYTES = 4096


def space_needed(archive: Archive, downloaded: int = 0, have_archive: bool = False) -> int:
    """Bytes of free disk needed to finish: the rest of the archive (none when ``have_archive``)
    plus the unpacked split's upper bound; ``downloaded`` bytes of a ``.part`` already count."""
    unpacked = int(UNPACK_FACTOR * archive.size) + BLOCK_BYTES * archive.images
    rest = 0 if have_archive else max(archive.size - downloaded, 0)
    return rest + unpacked


def free_space(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def check_space(root: Path, split: str, archive: Archive, have_archive: bool) -> None:
    """Raise :class:`DownloadError` when ``root`` cannot hold the download and the split."""
    part = root / f"{split}.tar.gz.part"
    downloaded = part.stat().st_size if part.is_file() and not have_archive else 0
    needed = space_needed(archive, downloaded, have_archive)
    free = free_space(root)
    if free < needed:
        rest = 0 if have_archive else archive.size - downloaded
        raise DownloadError(
            f"not enough free disk space in {root}: {split} needs {_gb(needed)} "
            f"({_gb(rest)} still to download + up to {_gb(needed - rest)} unpacked), "
            f"only {_gb(free)} free; free some space or pass another --root"
        )


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    url: str,
    target: Path,
    md5: str | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
    size: int | None = None,
) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming and verifying.

    ``progress(done_bytes, total_bytes_or_None)`` is called as bytes arrive. With ``size``
    (bytes), a server announcing another length is refused before any byte is written. Raises
    :class:`DownloadError` (one line) on no network, HTTP errors, a wrong size, a short read or
    a bad MD5.
    """
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    done = part.stat().st_size if part.exists() else 0
    if size is not None and done > size:  # longer than the real file: it cannot be resumed
        part.unlink()
        done = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:  # nothing left to fetch: the .part may be complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {url} ({reason}); check the network, or download the archive by hand "
            "and unpack it into the data folder (the commands' --root)"
        ) from exc
    total = None
    if response is not None:
        with response:
            resumed = response.status == 206
            if not resumed:
                done = 0  # the server ignored Range: start over
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            if size is not None and total is not None and total != size:
                raise DownloadError(
                    f"{url}: the server announces {total:,} bytes but the official archive has "
                    f"{size:,}; refused before downloading (a different file or a broken mirror)"
                )
            try:
                with open(part, "ab" if resumed else "wb") as out:
                    while block := response.read(_CHUNK):
                        out.write(block)
                        done += len(block)
                        if size is not None and done > size:
                            break
                        if progress is not None:
                            progress(done, total)
            except (TimeoutError, OSError) as exc:
                raise DownloadError(
                    f"{url}: download broke off after {done:,} bytes ({exc}); run again to resume"
                ) from exc
    got = part.stat().st_size
    if size is not None and got > size:  # no announced length, and the body ran past it
        part.unlink()
        raise DownloadError(
            f"{url}: the server sent more than the official {size:,} bytes; the file was removed"
        )
    expected = size if size is not None else total
    if expected is not None and got != expected:
        raise DownloadError(f"{url}: got {got:,} of {expected:,} bytes; run again to resume")
    if md5 is not None and _md5(part) != md5:
        part.unlink()
        raise DownloadError(f"{url}: checksum mismatch (expected MD5 {md5}); the file was removed")
    os.replace(part, target)
    return target


def verify_archive(path: Path, archive: Archive) -> None:
    """Refuse an archive already on disk whose size or MD5 is not the pinned one."""
    got = path.stat().st_size
    if got != archive.size:
        raise DownloadError(
            f"{path} has {got:,} bytes, not the official {archive.size:,}; move it away and run "
            "again"
        )
    if _md5(path) != archive.md5:
        raise DownloadError(
            f"{path}: checksum mismatch (expected MD5 {archive.md5}); move it away and run again"
        )


def _verify_gzip(archive: Path) -> None:
    """Read the whole gzip stream: its CRC-32 and length trailer catch corruption that tar,
    which stops at its end-of-archive marker, would never read."""
    with gzip.open(archive, "rb") as stream:
        while stream.read(_CHUNK):
            pass


def extract_split(archive: Path, root: Path, split: str) -> Path:
    """Unpack ``archive`` so that ``root/split`` appears whole, or not at all."""
    final = root / split
    staging = root / f".{split}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _verify_gzip(archive)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")  # refuses absolute paths, .., devices
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)  # a corrupt archive must not be taken as good next time
        raise DownloadError(f"{archive} is corrupt ({exc}); it was removed, run again") from exc
    found = [p.parent for p in staging.rglob("digitStruct.mat")]
    if not found:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(f"{archive} holds no digitStruct.mat: not an SVHN Format 1 archive")
    os.replace(found[0], final)
    shutil.rmtree(staging, ignore_errors=True)
    return final


def download_split(
    split: str,
    root: str | os.PathLike[str],
    base_url: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Make ``root/split`` hold the official split, downloading and unpacking it if needed.

    Args:
        split: ``train``, ``test`` or ``extra``.
        root: folder for the archive and the unpacked split.
        base_url: a mirror serving ``{split}.tar.gz`` (default: the official site).
        progress: callback ``(done_bytes, total_bytes_or_None)``; a tqdm bar when None.
    Returns the split folder. The archive must match :data:`PINNED` (size and MD5), and the
    free disk space is checked before anything is downloaded or unpacked.
    """
    if split not in SPLITS:
        raise DownloadError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    root = Path(root)
    final = root / split
    if (final / "digitStruct.mat").is_file():
        return final
    if final.exists():
        raise DownloadError(f"{final} exists but has no digitStruct.mat; move it away first")
    archive = root / f"{split}.tar.gz"
    pinned = PINNED[split]
    have_archive = archive.is_file()
    check_space(root, split, pinned, have_archive)
    if have_archive:
        verify_archive(archive, pinned)
    else:
        url = f"{(base_url or BASE_URL).rstrip('/')}/{split}.tar.gz"
        bar = None
        if progress is None:
            from tqdm import tqdm

            bar = tqdm(unit="B", unit_scale=True, desc=f"{split}.tar.gz")

            def progress(done: int, total: int | None) -> None:
                bar.total = total
                bar.update(done - bar.n)

        try:
            fetch(url, archive, pinned.md5, progress, size=pinned.size)
        finally:
            if bar is not None:
                bar.close()
    return extract_split(archive, root, split)
