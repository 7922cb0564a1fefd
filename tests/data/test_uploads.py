import hashlib
import os
import time

from svhn_xai.data.uploads import UploadStore


def test_a_photo_comes_back_by_its_sha256(tmp_path):
    store = UploadStore(tmp_path)
    data = b"\x89PNG a photo"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.get(digest) == data
    assert store.put(data) == digest and len(list(tmp_path.iterdir())) == 1  # one photo


def test_an_unknown_expired_or_foreign_reference_finds_nothing(tmp_path):
    store = UploadStore(tmp_path, max_age_s=60)
    digest = store.put(b"old")
    old = time.time() - 120
    os.utime(tmp_path / digest, (old, old))
    assert store.get(digest) is None and not (tmp_path / digest).exists()
    assert store.get("0" * 64) is None
    assert store.get("../../etc/passwd") is None  # not a SHA-256: never a path


def test_the_oldest_go_first_when_the_store_is_full(tmp_path):
    store = UploadStore(tmp_path, max_bytes=25)
    first = store.put(b"a" * 10)
    os.utime(tmp_path / first, (time.time() - 10, time.time() - 10))
    second = store.put(b"b" * 10)
    third = store.put(b"c" * 10)  # 30 bytes: the oldest one goes
    assert store.get(first) is None
    assert store.get(second) == b"b" * 10 and store.get(third) == b"c" * 10
    big = store.put(b"d" * 100)  # larger than the store: kept, the others make room
    assert store.get(big) == b"d" * 100
