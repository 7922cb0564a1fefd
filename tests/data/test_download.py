import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from svhn_xai.data.download import download_split, fetch
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


@pytest.fixture
def archive(tmp_path):
    write_split(tmp_path / "build" / "test", SMALL_ENTRIES, SMALL_SIZES)
    return tar_gz_of(tmp_path / "build" / "test", "test")


def test_download_extracts_a_readable_split_with_progress(server, archive, tmp_path):
    served, url, _ = server
    (served / "test.tar.gz").write_bytes(archive)
    seen = []
    md5 = hashlib.md5(archive).hexdigest()
    folder = download_split("test", tmp_path / "data", url, lambda d, t: seen.append((d, t)), md5)
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


def test_checksum_mismatch_is_refused_and_nothing_kept(server, archive, tmp_path):
    served, url, _ = server
    (served / "test.tar.gz").write_bytes(archive)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_split("test", tmp_path / "data", url, lambda d, t: None, md5="0" * 32)
    assert not list((tmp_path / "data").glob("test*"))


def test_corrupt_archive_is_removed_and_no_split_appears(server, archive, tmp_path):
    served, url, _ = server
    corrupt = bytearray(archive)
    corrupt[len(corrupt) // 2] ^= 0xFF
    (served / "test.tar.gz").write_bytes(bytes(corrupt))
    with pytest.raises(DownloadError, match="corrupt"):
        download_split("test", tmp_path / "data", url, lambda d, t: None)
    assert not (tmp_path / "data" / "test").exists()
    assert not (tmp_path / "data" / "test.tar.gz").exists()


def test_archive_without_digit_struct_is_refused(server, tmp_path):
    served, url, _ = server
    (tmp_path / "nothing" / "test").mkdir(parents=True)
    (tmp_path / "nothing" / "test" / "1.png").write_bytes(b"x")
    (served / "test.tar.gz").write_bytes(tar_gz_of(tmp_path / "nothing" / "test", "test"))
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
