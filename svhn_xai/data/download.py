"""Download and unpack an official SVHN Format 1 split (``train``, ``test`` or ``extra``).

Safety rules, in order:
- bytes go to ``NAME.tar.gz.part``; an interrupted download resumes from there with an HTTP
  Range request, and a ``.part`` is never taken for a finished archive;
- the finished file must have the size the server announced and, where known, the MD5 below,
  before it is renamed to ``NAME.tar.gz``;
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
from pathlib import Path

from svhn_xai.data.svhn import SPLITS
from svhn_xai.errors import DownloadError

BASE_URL = "http://ufldl.stanford.edu/housenumbers"
# Expected archive sizes and MD5s; None where not pinned, and then the size the server
# announces plus gzip's own CRC are the checks.
CHECKSUMS: dict[str, str | None] = {"train": None, "test": None, "extra": None}
Progress = Callable[[int, int | None], None]
_CHUNK = 1 << 20


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
) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming and verifying.

    ``progress(done_bytes, total_bytes_or_None)`` is called as bytes arrive. Raises
    :class:`DownloadError` (one line) on no network, HTTP errors, a short read or a bad MD5.
    """
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    done = part.stat().st_size if part.exists() else 0
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
            "and unpack it under --root"
        ) from exc
    total = None
    if response is not None:
        with response:
            resumed = response.status == 206
            if not resumed:
                done = 0  # the server ignored Range: start over
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            try:
                with open(part, "ab" if resumed else "wb") as out:
                    while block := response.read(_CHUNK):
                        out.write(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
            except (TimeoutError, OSError) as exc:
                raise DownloadError(
                    f"{url}: download broke off after {done:,} bytes ({exc}); run again to resume"
                ) from exc
    if total is not None and part.stat().st_size != total:
        raise DownloadError(
            f"{url}: got {part.stat().st_size:,} of {total:,} bytes; run again to resume"
        )
    if md5 is not None and _md5(part) != md5:
        part.unlink()
        raise DownloadError(f"{url}: checksum mismatch (expected MD5 {md5}); the file was removed")
    os.replace(part, target)
    return target


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
    md5: str | None = None,
) -> Path:
    """Make ``root/split`` hold the official split, downloading and unpacking it if needed.

    Args:
        split: ``train``, ``test`` or ``extra``.
        root: folder for the archive and the unpacked split.
        base_url: a mirror serving ``{split}.tar.gz`` (default: the official site).
        progress: callback ``(done_bytes, total_bytes_or_None)``; a tqdm bar when None.
        md5: expected archive checksum (default: :data:`CHECKSUMS`).
    Returns the split folder.
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
    if not archive.is_file():
        url = f"{(base_url or BASE_URL).rstrip('/')}/{split}.tar.gz"
        bar = None
        if progress is None:
            from tqdm import tqdm

            bar = tqdm(unit="B", unit_scale=True, desc=f"{split}.tar.gz")

            def progress(done: int, total: int | None) -> None:
                bar.total = total
                bar.update(done - bar.n)

        try:
            fetch(url, archive, md5 or CHECKSUMS.get(split), progress)
        finally:
            if bar is not None:
                bar.close()
    return extract_split(archive, root, split)
