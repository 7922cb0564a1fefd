import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from svhn_xai.data import download
from svhn_xai.data.download import PINNED, Archive, download_split, fetch, space_needed
from svhn_xai.data.svhn import SVHNFolder
from svhn_xai.errors import DownloadError
from tests.ports import free_port
from tests.svhn_files import SMALL_ENTRIES, SMALL_SIZES, tar_gz_of, write_split


class _Handler(SimpleHTTPRequestHandler):
    """Serves files with Range support; ``cut_after`` bytes then drops the connection."""

    cut_after: int | None = None

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.cut_after is not None and start == 0:
            self.wfile.write(body[: self.cut_after])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = type("H", (_Handler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()


def pin(monkeypatch, data: bytes, images: int = 3) -> Archive:
    """Pin the small test archive in place of the official one."""
    pinned = Archive(len(data), hashlib.md5(data).hexdigest(), images)
    monkeypatch.setitem(PINNED, "test", pinned)
    return pinned


@pytest.fixture
def archive(tmp_path, monkeypatch):
    write_split(tmp_path / "build" / "test", SMALL_ENTRIES, SMALL_SIZES)
    data = tar_gz_of(tmp_path / "build" / "test", "test")
    pin(monkeypatch, data)
    return data


def test_official_archives_are_pinned_by_size_and_md5():
    assert PINNED["train"] == Archive(404_141_560, "a649f4cb15c35520e8a8c342d4c0005a", 33_402)
    assert PINNED["test"] == Archive(276_555_967, "790d9c8d42f1fcbd219b59956c853a81", 13_068)
    assert PINNED["extra"] == Archive(1_955_489_752, "606f41243d71ca4d5fe66dbaf1f02bee", 202_353)


def test_download_extracts_a_readable_split_with_progress(server, archive, tmp_path):
    served, url, _ = server
    (served / "test.tar.gz").write_bytes(archive)
    seen = []
    folder = download_split("test", tmp_path / "data", url, lambda d, t: seen.append((d, t)))
    assert folder == tmp_path / "data" / "test"
    assert len(SVHNFolder(folder)) == 3
    assert seen[-1] == (len(archive), len(archive))
    assert not list((tmp_path / "data").glob("*.part"))


def test_cut_download_leaves_only_a_part_file_then_resumes(server, archive, tmp_path):
    served, url, handler = server
    (served / "test.tar.gz").write_bytes(archive)
    handler.cut_after = len(archive) // 2
    with pytest.raises(DownloadError, match="run again to resume"):
        download_split("test", tmp_path / "data", url, lambda d, t: None)
    assert not (tmp_path / "data" / "test.tar.gz").exists()
    assert (tmp_path / "data" / "test.tar.gz.part").stat().st_size == len(archive) // 2
    handler.cut_after = None
    folder = download_split("test", tmp_path / "data", url, lambda d, t: None)
    assert len(SVHNFolder(folder)) == 3


def test_checksum_mismatch_is_refused_after_the_transfer_and_nothing_kept(
    server, archive, tmp_path
):
    served, url, _ = server
    altered = bytearray(archive)
    altered[len(altered) // 2] ^= 0xFF  # same size as pinned, other bytes
    (served / "test.tar.gz").write_bytes(bytes(altered))
    seen = []
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_split("test", tmp_path / "data", url, lambda d, t: seen.append(d))
    assert seen[-1] == len(archive)  # refused only once every byte had arrived
    assert not list((tmp_path / "data").glob("test*"))


@pytest.mark.parametrize("delta", [-1, +1])
def test_wrong_announced_size_is_refused_before_any_byte_is_written(
    server, archive, tmp_path, delta
):
    served, url, _ = server
    wrong = archive[:-1] if delta < 0 else archive + b"\0"
    (served / "test.tar.gz").write_bytes(wrong)
    seen = []
    with pytest.raises(DownloadError, match=f"announces {len(wrong):,} bytes.*{len(archive):,}"):
        download_split("test", tmp_path / "data", url, lambda d, t: seen.append(d))
    assert seen == []
    assert not list((tmp_path / "data").glob("test*"))  # not even an empty .part


def test_archive_already_on_disk_is_checked_before_unpacking(archive, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.tar.gz").write_bytes(archive[:-1] + b"x")
    with pytest.raises(DownloadError, match="checksum mismatch.*move it away"):
        download_split("test", tmp_path / "data", "http://127.0.0.1:9/")
    assert not (tmp_path / "data" / "test").exists()
    (tmp_path / "data" / "test.tar.gz").write_bytes(archive)  # the right file: no network needed
    assert len(SVHNFolder(download_split("test", tmp_path / "data", "http://127.0.0.1:9/"))) == 3


def test_too_little_disk_space_is_refused_before_starting(server, archive, tmp_path, monkeypatch):
    served, url, _ = server
    (served / "test.tar.gz").write_bytes(archive)
    needed = space_needed(PINNED["test"])
    assert needed > 2 * len(archive)  # the unpacked split is counted, not just the archive
    monkeypatch.setattr(download, "free_space", lambda path: needed - 1)
    seen = []
    with pytest.raises(DownloadError, match="not enough free disk space.*pass another --root"):
        download_split("test", tmp_path / "data", url, lambda d, t: seen.append(d))
    assert seen == [] and not (tmp_path / "data").exists()
    monkeypatch.setattr(download, "free_space", lambda path: needed)
    assert len(SVHNFolder(download_split("test", tmp_path / "data", url, lambda d, t: None))) == 3


def test_space_needed_for_the_official_train_split():
    # 404 MB still to fetch + 2 x 404 MB + 33,402 blocks of 4 KiB unpacked
    assert space_needed(PINNED["train"]) == 404_141_560 * 3 + 4096 * 33_402
    assert space_needed(PINNED["train"], downloaded=100) == 404_141_560 * 3 - 100 + 4096 * 33_402
    assert space_needed(PINNED["train"], have_archive=True) == 404_141_560 * 2 + 4096 * 33_402


def test_corrupt_archive_is_removed_and_no_split_appears(server, archive, tmp_path, monkeypatch):
    served, url, _ = server
    corrupt = bytearray(archive)
    corrupt[len(corrupt) // 2] ^= 0xFF
    pin(monkeypatch, bytes(corrupt))  # a file that passes the pins: gzip's CRC is the last check
    (served / "test.tar.gz").write_bytes(bytes(corrupt))
    with pytest.raises(DownloadError, match="corrupt"):
        download_split("test", tmp_path / "data", url, lambda d, t: None)
    assert not (tmp_path / "data" / "test").exists()
    assert not (tmp_path / "data" / "test.tar.gz").exists()


def test_archive_without_digit_struct_is_refused(server, tmp_path, monkeypatch):
    served, url, _ = server
    (tmp_path / "nothing" / "test").mkdir(parents=True)
    (tmp_path / "nothing" / "test" / "1.png").write_bytes(b"x")
    data = tar_gz_of(tmp_path / "nothing" / "test", "test")
    pin(monkeypatch, data, images=1)
    (served / "test.tar.gz").write_bytes(data)
    with pytest.raises(DownloadError, match="no digitStruct.mat"):
        download_split("test", tmp_path / "data", url, lambda d, t: None)
    assert not (tmp_path / "data" / "test").exists()


def test_no_network_is_one_clear_line(tmp_path):
    port = free_port()  # nothing listens there
    with pytest.raises(DownloadError, match="cannot reach") as info:
        fetch(f"http://127.0.0.1:{port}/test.tar.gz", tmp_path / "test.tar.gz", timeout=3)
    assert "\n" not in str(info.value)


def test_existing_split_is_never_touched(tmp_path):
    write_split(tmp_path / "test", SMALL_ENTRIES, SMALL_SIZES)
    before = (tmp_path / "test" / "1.png").read_bytes()
    assert download_split("test", tmp_path, "http://127.0.0.1:9/") == tmp_path / "test"
    assert (tmp_path / "test" / "1.png").read_bytes() == before
