"""Real-SVHN path at full size: build a full-size Format 1 split, then time and weigh every step.

    python -m benchmarks.svhn_full_scale [--root data/full_scale] [--phases ...]

Builds, under ``--root`` (git-ignored; reused by later runs), ``train/`` in the official layout:
33,402 PNGs drawn by the synthetic generator and a MATLAB v7.3 ``digitStruct.mat`` written by
``tests/svhn_files.py``'s writer; a 1,000-image ``test/`` the same way (scored after each
epoch); and ``extra/``: 202,353 entries whose PNGs are hard links to the train images, repeated
in order, listed in an ``annotations.json`` (writing and parsing a 202k-entry v7.3 file is
~30 min on this CPU: its parse time is extrapolated from train's measured rate instead).

Each phase runs in its own process so that its peak memory is its own; numbers go to
``results/svhn_full_scale.json`` as each phase ends (with the command, commit and machine).
Phases: gen, parse, prepare, first_batch, loader, train, resume, extra.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.record import COMMIT_AT_START
from svhn_xai.provenance import machine as provenance_machine

TRAIN_IMAGES = 33_402
EXTRA_IMAGES = 202_353
TEST_IMAGES = 1_000
DISTINCT = 4_000  # synthetic renders behind the train PNGs (see build_split)
SIZES = {"train": TRAIN_IMAGES, "test": TEST_IMAGES, "extra": EXTRA_IMAGES, "distinct": DISTINCT}
PHASES = ("gen", "parse", "prepare", "first_batch", "loader", "train", "resume", "extra")
_HIDDEN = ("extra_prepare",)  # run by phase_extra
RESULTS = Path("results/svhn_full_scale.json")
RESUME_STEPS = 8  # steps of the resumed full-size epoch 2 (see phase_resume)


# ---------------------------------------------------------------- measuring


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def memory() -> dict[str, float]:
    """CPU seconds of this process and of its finished children; its peak RSS and current
    anonymous/file-backed RSS, plus the largest child's peak RSS (worker processes), in MB.
    File-backed pages (a memory-mapped cache) count in RSS but are the page cache's,
    reclaimable at any time."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        # CPU seconds spent so far: unlike wall time, not stretched by other users' load
        "cpu_seconds": round(own.ru_utime + own.ru_stime, 1),
        "cpu_seconds_children": round(children.ru_utime + children.ru_stime, 1),
        "peak_rss_mb": round(_status_kb("VmHWM") / 1024, 1),
        "rss_anon_mb": round(_status_kb("RssAnon") / 1024, 1),
        "rss_file_mb": round(_status_kb("RssFile") / 1024, 1),
        "largest_child_peak_rss_mb": round(children.ru_maxrss / 1024, 1),  # KB on Linux
    }


def machine() -> dict[str, Any]:
    """The provenance's machine, with what a memory and loader benchmark also needs: the
    memory and the load average it started at."""
    return {
        **provenance_machine(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------- building the split


def _render(args: tuple[int, int, int]) -> list[tuple[bytes, list]]:
    """PNG bytes and official-layout boxes of synthetic items ``start:stop`` of ``seed``."""
    import io

    from PIL import Image

    from svhn_xai.data.synthetic import SyntheticHouseNumbers

    seed, start, stop = args
    source = SyntheticHouseNumbers(stop, seed)
    out = []
    for i in range(start, stop):
        item = source[i]
        buffer = io.BytesIO()
        Image.fromarray(item.image).save(buffer, format="PNG")
        digits = [
            (float(label or 10), x0, y0, x1 - x0, y1 - y0)  # the file stores 0 as 10
            for label, (x0, y0, x1, y1) in zip(item.labels, item.boxes.tolist())
        ]
        out.append((buffer.getvalue(), digits))
    return out


def build_split(folder: Path, n: int, seed: int, distinct: int) -> dict[str, Any]:
    """``n`` PNG files and a v7.3 digitStruct.mat in ``folder`` (kept when complete).

    Image ``k`` is synthetic item ``k mod distinct``: the generator draws ~20 images/s per core
    under this machine's shared load, so 33,402 distinct ones would take half an hour; every
    file is still its own file on disk, decoded on its own.
    """
    from tests.svhn_files import write_digit_struct_v73

    if (folder / "digitStruct.mat").is_file() and (folder / f"{n}.png").is_file():
        return {"images": n, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    distinct = min(distinct, n)
    tic = time.perf_counter()
    step = 250
    jobs = [(seed, s, min(s + step, distinct)) for s in range(0, distinct, step)]
    with get_context("fork").Pool(os.cpu_count()) as pool:
        rendered = [r for part in pool.imap(_render, jobs) for r in part]
    render_s = time.perf_counter() - tic
    entries = []
    for k in range(n):
        png, digits = rendered[k % distinct]
        (folder / f"{k + 1}.png").write_bytes(png)
        entries.append((f"{k + 1}.png", digits))
    tic = time.perf_counter()
    tmp = folder / "digitStruct.mat.tmp"
    write_digit_struct_v73(tmp, entries)
    os.replace(tmp, folder / "digitStruct.mat")
    return {
        "images": n,
        "distinct_renders": distinct,
        "digits": sum(len(d) for _, d in entries),
        "render_seconds": round(render_s, 1),
        "digit_struct_write_seconds": round(time.perf_counter() - tic, 1),
        "png_bytes": sum(p.stat().st_size for p in folder.glob("*.png")),
        "digit_struct_bytes": (folder / "digitStruct.mat").stat().st_size,
    }


def build_extra(root: Path) -> dict[str, Any]:
    """extra/: 202,353 hard links cycling over train's PNGs, annotations.json beside them."""
    from svhn_xai.data.digit_struct import load_digit_struct

    folder = root / "extra"
    if (folder / "annotations.json").is_file():
        return {"images": SIZES["extra"], "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    train = load_digit_struct(root / "train" / "digitStruct.mat")
    annotations = {}
    for i in range(SIZES["extra"]):
        name, digits = train[i % len(train)]
        os.link(root / "train" / name, folder / f"{i + 1}.png")
        annotations[f"{i + 1}.png"] = digits
    (folder / "annotations.json").write_text(json.dumps(annotations))
    return {"images": SIZES["extra"], "distinct_files": len(train), "layout": "annotations.json"}


# ---------------------------------------------------------------- phases (one process each)


def _cfg(root: Path, **kw: Any):
    from svhn_xai.model.config import TrainConfig

    return TrainConfig(data="svhn", root=str(root), **kw)


def _loader(tensors, batch_size: int = 128):
    from torch.utils.data import DataLoader, RandomSampler

    from svhn_xai.model.run_data import Batches, keep_batch

    data = Batches(tensors)
    sampler = RandomSampler(data, generator=torch.Generator().manual_seed(0))
    return DataLoader(data, batch_size, sampler=sampler, drop_last=True, collate_fn=keep_batch)


def phase_gen(root: Path) -> dict[str, Any]:
    return {
        "train": build_split(root / "train", SIZES["train"], 0, SIZES["distinct"]),
        "test": build_split(root / "test", SIZES["test"], 1, SIZES["distinct"]),
    }


def phase_parse(root: Path) -> dict[str, Any]:
    from svhn_xai.data.digit_struct import CACHE_NAME, load_digit_struct

    mat = root / "train" / "digitStruct.mat"
    (mat.parent / CACHE_NAME).unlink(missing_ok=True)
    tic = time.perf_counter()
    table = load_digit_struct(mat)
    first = time.perf_counter() - tic
    tic = time.perf_counter()
    again = load_digit_struct(mat)
    cached = time.perf_counter() - tic
    assert again == table
    return {
        "entries": len(table),
        "digits": sum(len(d) for _, d in table),
        "first_seconds": round(first, 1),
        "entries_per_second": round(len(table) / first, 1),
        "cached_seconds": round(cached, 2),
        "extra_first_seconds_extrapolated": round(EXTRA_IMAGES / (len(table) / first)),
        **memory(),
    }


def _prepare(root: Path, split: str) -> dict[str, Any]:
    from svhn_xai.data.tensors import cache_dir
    from svhn_xai.model.run_data import load_tensors

    shutil.rmtree(cache_dir() / "tensors", ignore_errors=True)
    cfg = _cfg(root, split=split)
    tic = time.perf_counter()
    tensors = load_tensors(cfg, "svhn", split, None, None, cfg.jitter)
    prepared = time.perf_counter() - tic
    batch = next(iter(_loader(tensors)))
    first_batch = time.perf_counter() - tic
    return {
        "images": len(tensors),
        "input_size": cfg.input_size,
        "workers": os.cpu_count(),
        "open_and_prepare_seconds": round(prepared, 1),
        "images_per_second": round(len(tensors) / prepared, 1),
        "cold_time_to_first_batch_seconds": round(first_batch, 1),
        "batch_shape": list(batch[0].shape),
        "cache_bytes": sum(p.stat().st_size for p in (cache_dir() / "tensors").glob("*.npy")),
        **memory(),
    }


def phase_prepare(root: Path) -> dict[str, Any]:
    return _prepare(root, "train")


def phase_first_batch(root: Path) -> dict[str, Any]:
    from svhn_xai.model.run_data import load_tensors

    tic = time.perf_counter()
    cfg = _cfg(root)
    tensors = load_tensors(cfg, "svhn", "train", None, None, cfg.jitter)
    batch = next(iter(_loader(tensors)))
    return {
        "images": len(tensors),
        "warm_time_to_first_batch_seconds": round(time.perf_counter() - tic, 2),
        "batch_shape": list(batch[0].shape),
        **memory(),
    }


def _loader_rates(tensors, seconds: float = 20.0) -> dict[str, float]:
    """images/s of (a) the loader alone (gather uint8 rows from the mapped cache, as the GPU
    run does before the host-to-device copy) and (b) plus float conversion and augmentation
    on this CPU (what the CPU run adds before the model)."""
    from svhn_xai.model.augment import augment_batch
    from svhn_xai.model.predict import to_input

    out = {}
    generator = torch.Generator().manual_seed(0)
    for name, work in (
        ("loader_alone", lambda b: b),
        ("loader_and_cpu_augment", lambda b: augment_batch(to_input(b[0], "cpu"), generator)),
    ):
        seen, tic = 0, time.perf_counter()
        for batch in _loader(tensors):
            work(batch)
            seen += len(batch[0])
            if time.perf_counter() - tic > seconds:
                break
        out[f"{name}_images_per_second"] = round(seen / (time.perf_counter() - tic), 1)
    return out


def phase_loader(root: Path) -> dict[str, Any]:
    from svhn_xai.model.run_data import load_tensors

    cfg = _cfg(root)
    tensors = load_tensors(cfg, "svhn", "train", None, None, cfg.jitter)
    torch.set_num_threads(os.cpu_count() or 1)
    return {**_loader_rates(tensors), "batch_size": 128, **memory()}


def _cli(root: Path, out: Path, epochs: int, resume: bool, more: list[str]) -> dict[str, Any]:
    from svhn_xai.provenance import shown_arguments, shown_path

    cmd = [
        sys.executable, "-m", "svhn_xai", "train", "--data", "svhn", "--root", str(root),
        "--split", "train", "--epochs", str(epochs), "--out", str(out), *more,
    ]  # fmt: skip
    if resume:
        cmd.append("--resume")
    tic = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    code, log = run.returncode, run.stdout + run.stderr
    return {
        "command": " ".join(["python", *shown_arguments(cmd[1:])]),
        "exit_code": code,
        "wall_seconds": round(time.perf_counter() - tic, 1),
        "log_tail": [
            line.replace(str(root), shown_path(root))
            for line in log.splitlines()
            if "\r" not in line
        ][-6:],
        **memory(),
    }


class _TimeUp(Exception):
    pass


def phase_train(root: Path) -> dict[str, Any]:
    """One epoch of ``train --data svhn --split train`` on the full-size split through
    :func:`svhn_xai.model.train.main` (the code path the CLI calls), stopped after
    ``--train-seconds`` when the epoch would run longer; the epoch's time is then extrapolated
    from its steps."""
    from svhn_xai.model.train import main as train_main

    out = root / "run" / "full.pt"
    shutil.rmtree(out.parent, ignore_errors=True)
    cfg = _cfg(root, split="train", epochs=1, out=str(out))
    limit = SIZES["train_seconds"]
    start = time.perf_counter()
    stamps: list[float] = []
    steps_per_epoch = [0]

    def on_batch(step: int, steps: int, loss: float) -> None:
        stamps.append(time.perf_counter())
        steps_per_epoch[0] = steps
        if stamps[-1] - start > limit and step < steps:
            raise _TimeUp

    finished = True
    try:
        record = train_main(
            cfg, command="benchmarks.svhn_full_scale train phase", on_batch=on_batch
        )
    except _TimeUp:
        finished = False
    steps = steps_per_epoch[0]
    # the first step carries oneDNN's kernel choice: the rate is taken from the later ones
    rate = (len(stamps) - 2) * cfg.batch_size / (stamps[-1] - stamps[1]) if len(stamps) > 2 else 0
    result = {
        "code_path": "svhn_xai.model.train.main(TrainConfig(data='svhn', split='train', epochs=1))",
        "finished_epoch": finished,
        "steps_done": len(stamps),
        "steps_per_epoch": steps,
        "batch_size": cfg.batch_size,
        "seconds_to_first_step": round(stamps[0] - start, 1) if stamps else None,
        "train_images_per_second": round(rate, 2),
        "epoch_seconds": round(stamps[-1] - stamps[0], 1) if finished else None,
        "epoch_seconds_extrapolated": round(steps * cfg.batch_size / rate) if rate else None,
        **memory(),
    }
    if finished:
        result["test_balanced_accuracy"] = record["test"]["balanced_accuracy"]
    return result


def phase_resume(root: Path) -> dict[str, Any]:
    """``--resume`` at full size, then end to end through the CLI on a slice.

    Full size: the train phase's one-epoch checkpoint is resumed for epoch 2 through
    :func:`svhn_xai.model.train.main` (the full 33,402-entry split reopened, optimizer and schedule
    restored) and stopped after ``RESUME_STEPS`` steps: a second full epoch would only repeat the
    train phase's timing. Slice: ``train`` then ``train --resume`` as two CLI processes on
    ``--indices 0:512``, so that the resumed run also finishes and writes its checkpoint.
    """
    from svhn_xai.model.checkpoint import load_checkpoint
    from svhn_xai.model.train import main as train_main

    full = root / "run" / "full.pt"
    full_size: dict[str, Any] = {"skipped": "no finished one-epoch checkpoint from the train phase"}
    if full.is_file():
        saved = [h["epoch"] for h in load_checkpoint(full)["metrics"]["history"]]
        cfg = _cfg(root, split="train", epochs=2, out=str(full), resume=True)
        start, steps = time.perf_counter(), []

        def on_batch(step: int, total: int, loss: float) -> None:
            steps.append((time.perf_counter(), loss))
            if len(steps) >= RESUME_STEPS:
                raise _TimeUp

        with contextlib.suppress(_TimeUp):
            train_main(cfg, command="benchmarks.svhn_full_scale resume phase", on_batch=on_batch)
        full_size = {
            "resumed_from_epochs": saved,
            "resumed_steps": len(steps),
            "seconds_to_first_resumed_step": round(steps[0][0] - start, 1) if steps else None,
            "first_losses": [round(loss, 4) for _, loss in steps],
            **memory(),
        }

    out = root / "run_slice" / "resume.pt"
    shutil.rmtree(out.parent, ignore_errors=True)
    first = _cli(root, out, 1, False, ["--indices", "0:512", "--test-indices", "0:256"])
    second = _cli(root, out, 2, True, ["--indices", "0:512", "--test-indices", "0:256"])
    history = load_checkpoint(out)["metrics"]["history"]
    return {
        "full_size": full_size,
        "first": first,
        "resumed": second,
        "resumed_line_seen": any("resuming" in line for line in second["log_tail"]),
        "epochs_in_history": [h["epoch"] for h in history],
    }


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS of ``pid``, RSS of ``pid`` plus all its descendants), MB, from /proc."""
    own = _rss_mb(pid)
    return own, own + sum(_rss_mb(p) for p in _descendants(pid))


def phase_extra_prepare(root: Path) -> dict[str, Any]:
    """The prepare step on extra's full index (run by phase_extra, which may stop it)."""
    return _prepare(root, "extra")


def phase_extra(root: Path) -> dict[str, Any]:
    """extra's 202,353-entry index: open it, prepare it (stopped after ``--extra-seconds`` when
    slower, memory sampled every second), then one epoch of batches from a memory-mapped
    202,353-row cache: a copy of the prepared one (122 s on the idle 2-core CPU), or, where the
    prepare was stopped, the rows prepared by then repeated in order (same shape, same file
    size, same access pattern)."""
    from svhn_xai.data.svhn import SVHNFolder
    from svhn_xai.data.tensors import TensorSet, cache_dir

    tic = time.perf_counter()
    built = build_extra(root)
    built["build_seconds"] = round(time.perf_counter() - tic, 1)
    tic = time.perf_counter()
    folder = SVHNFolder(root / "extra")
    opened = {"images": len(folder), "seconds": round(time.perf_counter() - tic, 1), **memory()}
    del folder

    # prepare, in a child process, watched from here
    limit = SIZES["extra_seconds"]
    cmd = [sys.executable, "-m", "benchmarks.svhn_full_scale", "--phase", "extra_prepare",
           "--root", str(root)]  # fmt: skip
    log = root / "extra_prepare.log"
    tic = time.perf_counter()
    with open(log, "w") as err:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        peak_main = peak_tree = 0.0
        while child.poll() is None and time.perf_counter() - tic < limit:
            main_mb, tree_mb = _tree_rss_mb(child.pid)
            peak_main, peak_tree = max(peak_main, main_mb), max(peak_tree, tree_mb)
            time.sleep(1.0)
        stopped = child.poll() is None
        if stopped:
            for pid in _descendants(child.pid):
                os.kill(pid, 9)
            child.kill()
        out, _ = child.communicate()
    elapsed = time.perf_counter() - tic
    progress = re.findall(r"(\d+)/\d+ \[", log.read_text())  # tqdm's "27000/202353 ["
    done = int(progress[-1]) if progress else 0
    prepare: dict[str, Any] = {
        "finished": not stopped,
        "seconds": round(elapsed, 1),
        "images_done": done,
        "sampled_peak_rss_main_mb": round(peak_main, 1),
        "sampled_peak_rss_with_workers_mb": round(peak_tree, 1),
    }
    if not stopped:
        lines = [x for x in out.splitlines() if x.startswith("RESULT ")]
        prepare["result"] = json.loads(lines[-1][len("RESULT ") :])
    elif done:
        prepare["images_per_second"] = round(done / elapsed, 1)
        prepare["full_seconds_extrapolated"] = round(len(range(SIZES["extra"])) * elapsed / done)

    # one epoch of batches from a 202,353-row mapped cache: the rows extra's prepare wrote
    # before it was stopped (all of them if it finished), repeated in order
    tensors_dir = cache_dir() / "tensors"
    written = sorted(tensors_dir.glob("*.images.npy*"), key=os.path.getmtime)
    n = SIZES["extra"]
    source = np.load(written[-1], mmap_mode="r")[: n if not stopped else done]
    stand_in = root / "extra_stand_in.images.npy"
    rows = np.lib.format.open_memmap(stand_in, "w+", np.uint8, (n, *source.shape[1:]))
    for s in range(0, n, len(source)):
        rows[s : s + len(source)] = source[: n - s]
    rows.flush()
    del rows, source
    shutil.rmtree(tensors_dir)
    before = memory()
    mapped = np.load(stand_in, mmap_mode="c")
    tensors = TensorSet(torch.from_numpy(mapped), torch.zeros(n, 10))
    tic, seen = time.perf_counter(), 0
    for batch in _loader(tensors):
        seen += len(batch[0])
    epoch = {
        "images": seen,
        "seconds": round(time.perf_counter() - tic, 1),
        "cache_bytes": stand_in.stat().st_size,
        "before_pass": before,
        "after_pass": memory(),
    }
    del tensors, mapped
    stand_in.unlink()
    return {"built": built, "open": opened, "prepare": prepare, "loader_epoch": epoch}


def _descendants(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            kids = [int(c) for t in Path(f"/proc/{p}/task").iterdir()
                    for c in (t / "children").read_text().split()]  # fmt: skip
        except OSError:
            kids = []
        out.extend(kids)
        stack.extend(kids)
    return out


# ---------------------------------------------------------------- driver


def run_phase(name: str, root: Path) -> dict[str, Any]:
    return globals()[f"phase_{name}"](root)


def main() -> None:
    from svhn_xai.provenance import shown_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/full_scale"))
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--sizes", type=int, nargs=4, metavar=("TRAIN", "TEST", "EXTRA", "DISTINCT"),
        default=(TRAIN_IMAGES, TEST_IMAGES, EXTRA_IMAGES, DISTINCT), help="for a quick check",
    )  # fmt: skip
    # limits well above what an idle 2-core CPU needs (a 512 s epoch, 122 s for extra), so
    # that the plain command measures the whole epoch and the whole of extra
    parser.add_argument(
        "--train-seconds", type=float, default=1800, help="time limit of the full-size epoch"
    )
    parser.add_argument(
        "--extra-seconds", type=float, default=1500, help="time limit of preparing extra"
    )
    parser.add_argument("--phase", choices=PHASES + _HIDDEN, help=argparse.SUPPRESS)  # a child
    args = parser.parse_args()
    root = args.root.resolve()
    SIZES.update(zip(("train", "test", "extra", "distinct"), args.sizes))
    SIZES["train_seconds"] = args.train_seconds
    SIZES["extra_seconds"] = args.extra_seconds
    os.environ["SVHN_XAI_CACHE"] = str(root / "cache")  # the benchmark's own tensor cache
    if args.phase:
        print("RESULT " + json.dumps(run_phase(args.phase, root)))
        return
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for record in results.get("phases", {}).values():  # phases of an earlier run keep theirs
        record.setdefault("commit", results.get("commit"))
        record.setdefault("command", results.get("command"))
    results.update(
        {
            "command": " ".join(
                ["python -m benchmarks.svhn_full_scale", *shown_arguments(sys.argv[1:])]
            ),
            "commit": COMMIT_AT_START,
            "machine": machine(),
        }
    )
    results.setdefault("phases", {})
    for name in args.phases:
        print(f"[{time.strftime('%H:%M:%S')}] {name} …", flush=True)
        tic = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.svhn_full_scale", "--phase", name, "--root",
             str(root),
             "--sizes", *map(str, args.sizes), "--train-seconds", str(args.train_seconds),
             "--extra-seconds", str(args.extra_seconds)],
            capture_output=True, text=True,
        )  # fmt: skip
        lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
        if child.returncode != 0 or not lines:
            print(child.stdout[-2000:], child.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"phase {name} failed (exit {child.returncode})")
        record = json.loads(lines[-1][len("RESULT ") :])
        record["phase_wall_seconds"] = round(time.perf_counter() - tic, 1)
        record["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        record["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record.setdefault("commit", results["commit"])
        results["phases"][name] = record
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(record, indent=2), flush=True)


if __name__ == "__main__":
    main()
