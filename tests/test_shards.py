"""Sharded evaluation: torchrun processes share the batches out and rank 0 merges the records."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from svhn_xai.model.accuracy import shard_rows
from svhn_xai.shards import Shard
from tests.ports import free_port

ARGS = [
    "evaluate",
    "--data", "synthetic", "--split", "test", "--limit", "3",
    "--methods", "saliency,feature_ablation", "--batch-size", "2", "--sanity", "0", "--quiet",
    "--steps", "4",  # the curves are merged as any record is: 4 steps show it as 16 do
]  # fmt: skip


def test_the_shards_are_disjoint_and_complete_whatever_their_number():
    batches = range(11)
    for world in (1, 2, 3, 4):
        owned = [[b for b in batches if Shard(r, world).owns(b)] for r in range(world)]
        assert sorted(sum(owned, [])) == list(batches)
    assert Shard(1, 2).name("out/run.partial.jsonl") == "out/run.partial.rank1-of-2.jsonl"
    assert Shard().name("out/run.partial.jsonl") == "out/run.partial.jsonl"


def test_test_rows_are_whole_batches_shared_round_robin():
    assert shard_rows(10, 4, Shard(0, 2)) == [0, 1, 2, 3, 8, 9]
    assert shard_rows(10, 4, Shard(1, 2)) == [4, 5, 6, 7]
    assert shard_rows(3, 4, Shard(1, 2)) == []  # one batch: rank 1 has nothing to do
    assert shard_rows(10, 4, Shard()) == list(range(10))
    with pytest.raises(ValueError):
        shard_rows(10, 0, Shard())


def _torchrun() -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
    ]  # fmt: skip


def _side_by_side(*commands: tuple[list[str], list[str]], log: Path) -> list[str]:
    """Run ``commands`` ((prefix, args): ``[*prefix, "-m", "svhn_xai", *args]``) at the same
    time, one thread per process (each is mostly start-up and imports); returns their outputs,
    in order. Their stderr goes to files beside ``log``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = []
    for i, (prefix, args) in enumerate(commands):
        err = log.with_name(f"{log.name}.{i}.err")
        with err.open("w") as sink:  # the child keeps its own copy of the descriptor
            cmd = [*prefix, "-m", "svhn_xai", *args]
            procs.append((subprocess.Popen(cmd, env=env, text=True, stdout=subprocess.PIPE,
                                           stderr=sink), err))  # fmt: skip
    outputs = []
    for proc, err in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.read_text()[-2000:]
        outputs.append(out)
    return outputs


@pytest.mark.slow
def test_two_gloo_processes_score_a_checkpoint_as_one(random_checkpoint, tmp_path):
    """`test` under torchrun: 5 batches of 8 (the last one short), 3 on rank 0 and 2 on rank 1;
    rank 0 alone prints, with the single process's numbers."""
    args = ["test", "--checkpoint", str(random_checkpoint), "--size", "36"]
    args += ["--batch-size", "8", "--json"]
    outputs = _side_by_side(([sys.executable], args), (_torchrun(), args), log=tmp_path / "test")
    alone, two = map(json.loads, outputs)  # one JSON document each: rank 1 prints nothing
    assert (alone["processes"], two["processes"]) == (1, 2)
    assert two["n_images"] == alone["n_images"] == 36
    assert two["per_digit"] == alone["per_digit"]
    assert two["balanced_accuracy"] == alone["balanced_accuracy"]
    assert two["loss"] == pytest.approx(alone["loss"], rel=1e-6)


@pytest.mark.slow
def test_two_gloo_processes_give_the_single_process_records(tmp_path):
    runs = {"alone": [sys.executable], "two": _torchrun()}
    commands = [
        (prefix, [*ARGS, "--json", str(tmp_path / f"{n}.json")]) for n, prefix in runs.items()
    ]
    _side_by_side(*commands, log=tmp_path / "evaluate")
    alone, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("alone", "two"))
    assert two["processes"] == 2 and alone["processes"] == 1
    assert two["n_pairs"] == alone["n_pairs"] >= 3  # more pairs than one batch of 2
    for key in ("saliency", "feature_ablation"):
        for score in ("iou_1", "iou_2", "pointing_game", "auc_deletion_black"):
            assert two["methods"][key][score] == pytest.approx(
                alone["methods"][key][score], abs=1e-5
            )
    shards = [tmp_path / f"two.partial.rank{r}-of-2.jsonl" for r in (0, 1)]
    pairs = [
        {(rec["index"], rec["digit"]) for rec in map(json.loads, p.read_text().splitlines()[1:])}
        for p in shards
    ]
    assert pairs[0] and pairs[1] and not pairs[0] & pairs[1]  # both worked, never on one pair
