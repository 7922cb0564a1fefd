import hashlib
import json
import re
import sys

import torch

from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT, REPO_ROOT
from svhn_xai.provenance import file_sha256, git_commit, machine, provenance


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 500_000)  # more than one 1 MiB chunk
    assert file_sha256(path) == hashlib.sha256(b"abc" * 500_000).hexdigest()
    (tmp_path / "abc").write_bytes(b"abc")
    assert file_sha256(tmp_path / "abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_machine_names_cpu_cores_and_torch():
    m = machine()
    assert m["cpu"] and isinstance(m["cpu"], str)
    assert m["cores"] >= 1
    assert m["torch"] == str(torch.__version__)
    assert set(m["cpu_features"]) <= {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}


def test_git_commit_is_a_hash_in_a_checkout_and_none_outside(monkeypatch, tmp_path):
    commit = git_commit()
    if commit is not None:  # a source archive has no .git
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit)
    monkeypatch.setattr("svhn_xai.provenance.REPO_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_commit() is None


def test_provenance_records_the_checkpoint_inside_the_repo_without_server_paths():
    p = provenance(command="python -m benchmarks.x --n 3", checkpoint=DEFAULT_CHECKPOINT)
    assert p["command"] == "python -m benchmarks.x --n 3"
    assert p["checkpoint"] == {
        "path": "checkpoints/default.pt",
        "sha256": file_sha256(DEFAULT_CHECKPOINT),
    }
    assert p["machine"] == machine()


def test_provenance_outside_the_repo_keeps_only_the_file_name(tmp_path):
    ckpt = tmp_path / "mine.pt"
    ckpt.write_bytes(b"weights")
    assert provenance(command="x", checkpoint=ckpt)["checkpoint"]["path"] == "mine.pt"


def test_provenance_command_defaults_to_this_process(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench.py", "--repeats", "2"])
    monkeypatch.delitem(sys.modules, "__main__")
    assert provenance()["command"] == "python bench.py --repeats 2"
    monkeypatch.setattr(sys, "argv", [str(REPO_ROOT / "benchmarks" / "b.py"), "-n", "1"])
    assert provenance()["command"] == "python benchmarks/b.py -n 1"  # not the server's path


def test_absolute_paths_among_the_arguments_are_recorded_without_the_server_part(monkeypatch):
    inside = REPO_ROOT / "results" / "cv.json"
    argv = ["b.py", "--root", "/srv/data/full_scale", f"--out={inside}", "--n", "3", "../shared"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delitem(sys.modules, "__main__")
    assert provenance()["command"] == (
        "python b.py --root full_scale --out=results/cv.json --n 3 ../shared"
    )


def test_a_benchmark_records_the_commit_it_started_on(tmp_path, monkeypatch):
    """An edit of the working tree during a long run must not change the recorded commit."""
    from benchmarks import record

    monkeypatch.setattr(record, "COMMIT_AT_START", "0" * 40)
    monkeypatch.setattr("svhn_xai.provenance.git_commit", lambda: "1" * 40 + "-dirty")
    saved = json.loads(record.save(tmp_path / "r.json", {"x": 1}).read_text())
    assert saved["provenance"]["commit"] == "0" * 40 and saved["x"] == 1
    assert provenance(command="x")["commit"] == "1" * 40 + "-dirty"  # no start given: now's


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_no_committed_results_file_or_model_card_names_a_path_of_the_machine_that_wrote_it():
    absolute = re.compile(r"(?<![\w.])/(?:[\w.-]+/)+[\w.-]*")  # /a/b or /a/b/c.json, not 1/2
    files = [*REPO_ROOT.glob("results/**/*.json"), *REPO_ROOT.glob("checkpoints/*.json")]
    assert len(files) > 10
    found = {
        f"{path.relative_to(REPO_ROOT)}: {hit}"
        for path in files
        for text in _strings(json.loads(path.read_text()))
        for hit in absolute.findall(text)
    }
    assert not found
