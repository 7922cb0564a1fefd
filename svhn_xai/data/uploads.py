"""Uploaded photos kept on the server under their SHA-256, so that a page, a source switch or a
shared link can find a photo again by that reference alone (never by a path), within a size and
age limit: the oldest go first when the store is full, and a photo older than the limit is gone.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

from svhn_xai.data.tensors import cache_dir

MAX_BYTES = 200 * 2**20  # the whole store
MAX_AGE_S = 24 * 3600.0  # a day: an upload is a working copy, not an archive
_DIGEST = re.compile(r"[0-9a-f]{64}")


class UploadStore:
    """Photos by SHA-256 in one folder (default: ``cache_dir()/uploads``)."""

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        max_bytes: int = MAX_BYTES,
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        self.folder = Path(folder) if folder is not None else cache_dir() / "uploads"
        self.max_bytes, self.max_age_s = max_bytes, max_age_s

    def put(self, data: bytes) -> str:
        """Keep ``data``; returns its SHA-256, the photo's reference. The same bytes twice are
        one photo, made the newest again."""
        digest = hashlib.sha256(data).hexdigest()
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / digest
        if path.is_file():  # kept already: nothing added, nothing to make room for
            path.touch()
            return digest
        part = path.with_suffix(f".{os.getpid()}.part")
        part.write_bytes(data)
        part.replace(path)  # whole or not at all: a reader never sees half a photo
        self._evict(keep=digest)
        return digest

    def get(self, digest: str) -> bytes | None:
        """The photo stored under ``digest``, or None when it is unknown or expired (a
        reference that is not a SHA-256 is unknown: it never reaches the file system)."""
        if not _DIGEST.fullmatch(digest or ""):
            return None
        path = self.folder / digest
        try:
            if time.time() - path.stat().st_mtime > self.max_age_s:
                path.unlink(missing_ok=True)
                return None
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _evict(self, keep: str) -> None:
        """Expired photos, then the oldest, until the store fits ``max_bytes`` (``keep``
        stays, whatever its size)."""
        now = time.time()
        entries = []
        for path in self.folder.iterdir():
            if not _DIGEST.fullmatch(path.name):
                continue
            stat = path.stat()
            if now - stat.st_mtime > self.max_age_s and path.name != keep:
                path.unlink(missing_ok=True)
            else:
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path.name != keep:
                path.unlink(missing_ok=True)
                total -= size
