"""Training as a background job: a ``python -m svhn_xai train`` subprocess whose whole state
lives in files, so that any process (a page rerun, a new browser session, a restarted server)
can follow it, and cancel it.

A run's folder ``RUNS/NAME/`` holds:

- ``job.json``: the train options, the process id and its start time (so a re-used pid is not
  mistaken for the run), when it started, and the exported checkpoint's file name;
- ``log.txt``: the process's stdout and stderr;
- ``progress.jsonl``: what the process reports (``train --progress``), one JSON object a line:
  ``{"event": "start", "start_epoch", "epochs"}``, ``{"event": "batch", "epoch", "step",
  "steps", "loss"}`` (at most every ``min_interval`` seconds, and the last batch of every
  epoch), ``{"event": "epoch", "record"}`` (the epoch's scores, once its checkpoint is on
  disk), ``{"event": "exported"}``, ``{"event": "done"}`` or ``{"event": "error", "message"}``;
- ``cancelled``: written by :func:`cancel` before it stops the process group;
- ``resume.pt`` (with ``resume.json`` and ``resume.curves.png``): the full checkpoint with the
  optimizer state, which ``--resume`` continues from.

The small checkpoint that pages list (half precision, no optimizer state:
:func:`svhn_xai.model.export.slim`) is written after every epoch to ``EXPORTS/NAME.pt``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svhn_xai.errors import ParameterError
from svhn_xai.model.checkpoint import REPO_ROOT

RESUMABLE = "resume.pt"
PROGRESS = "progress.jsonl"
LOG = "log.txt"
JOB = "job.json"
CANCELLED = "cancelled"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
RESERVED = ("default",)  # the shipped checkpoint's name

# Processes this Python process started: polling them reaps them (a finished child that is
# never waited for stays a zombie, which looks alive to a pid check).
_CHILDREN: dict[int, subprocess.Popen] = {}


class ProgressLog:
    """The writing side of ``progress.jsonl``, for ``train --progress FILE``.

    ``on_batch`` and ``on_epoch`` fit :func:`svhn_xai.model.train.main`'s callbacks; ``epochs``
    is the run's total and ``start_epoch`` the epochs already done (non-zero when resuming).
    """

    def __init__(
        self, path: str | os.PathLike[str], epochs: int, start_epoch: int = 0,
        min_interval: float = 0.25,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        self.epoch = start_epoch + 1  # the epoch being trained, 1-based
        self.min_interval = min_interval
        self._last = float("-inf")  # the first batch is always reported
        self._write({"event": "start", "start_epoch": start_epoch, "epochs": epochs})

    def _write(self, record: dict[str, Any]) -> None:
        record["time"] = round(time.time(), 3)
        # one write of a whole line, flushed: a reader never sees half a record but the last
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def on_batch(self, step: int, steps: int, loss: float) -> None:
        now = time.monotonic()
        if step < steps and now - self._last < self.min_interval:
            return
        self._last = now
        event = {"event": "batch", "epoch": self.epoch, "step": step, "steps": steps}
        self._write({**event, "loss": float(loss)})

    def on_epoch(self, record: dict[str, Any]) -> None:
        self._write({"event": "epoch", "record": record})
        self.epoch = int(record["epoch"]) + 1

    def event(self, name: str, **fields: Any) -> None:
        """Any other event: ``exported``, ``done``, ``error`` (with ``message``)."""
        self._write({"event": name, **fields})


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``progress.jsonl`` written so far; a line still being written is
    skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so a cancelled run unwinds (``finally`` blocks
    remove half-written temporary files) instead of dying mid-write."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@dataclass
class JobStatus:
    """What a run is doing, read from its folder.

    ``state`` is ``preparing`` (building images, no batch yet), ``training``, ``cancelling``,
    ``done``, ``failed`` or ``cancelled``. ``batches`` are ``(epochs, loss)`` points, epochs
    counted fractionally (0.5 = half of the first epoch); ``history`` the epoch records.
    """

    name: str
    state: str
    epochs: int
    epoch: int = 0
    step: int = 0
    steps: int = 0
    batches: list[tuple[float, float]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    log_tail: str = ""
    checkpoint: Path | None = None

    @property
    def running(self) -> bool:
        return self.state in ("preparing", "training", "cancelling")

    @property
    def resumable(self) -> bool:
        """A stopped run with epochs left and a checkpoint to continue from."""
        return (
            self.state in ("failed", "cancelled")
            and len(self.history) < self.epochs
            and len(self.history) > 0
        )

    @property
    def fraction(self) -> float:
        """Share of the run's batches done, in [0, 1]."""
        if self.state == "done":
            return 1.0
        done = float(len(self.history))
        if self.steps and self.epoch > len(self.history):  # within an epoch
            done = self.epoch - 1 + self.step / self.steps
        return min(max(done / max(self.epochs, 1), 0.0), 1.0)


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]  # a zombie has finished


def _alive(job: dict[str, Any]) -> bool:
    pid = job.get("pid")
    if pid is None:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    if Path("/proc").is_dir():
        started = _process_start(pid)
        return started is not None and started == job.get("pid_start")
    try:  # no /proc: trust the pid
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _exit_code(job: dict[str, Any]) -> int | None:
    child = _CHILDREN.get(job.get("pid", -1))
    return child.poll() if child is not None else None


def log_tail(folder: str | os.PathLike[str], lines: int = 12) -> str:
    """The last ``lines`` lines of a run's log; progress bars (carriage returns) collapsed to
    their latest state."""
    path = Path(folder) / LOG
    if not path.is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(max(path.stat().st_size - 32_000, 0))
        text = f.read().decode("utf-8", "replace")
    shown = [line.rstrip().split("\r")[-1] for line in text.replace("\r\n", "\n").split("\n")]
    shown = [line for line in shown if line.strip()]
    return "\n".join(shown[-lines:])


def _failure(folder: Path, code: int | None) -> str:
    """A plain-words reason for a run that stopped without finishing."""
    for line in reversed(log_tail(folder, 40).splitlines()):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        extra = " (SIGKILL: often the machine ran out of memory)" if name == "SIGKILL" else ""
        return f"the training process was stopped by {name}{extra}"
    suffix = f" with exit status {code}" if code else ""
    return f"the training process stopped before finishing{suffix}; its last lines are below"


def read_job(folder: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads((Path(folder) / JOB).read_text())


def status(folder: str | os.PathLike[str], exports: str | os.PathLike[str]) -> JobStatus:
    """The state of the run in ``folder``; its exported checkpoint is looked for in
    ``exports``."""
    folder = Path(folder)
    job = read_job(folder)
    events = read_events(folder / PROGRESS)
    st = JobStatus(job["name"], "preparing", int(job["epochs"]))
    history: dict[int, dict[str, Any]] = {}
    batches: list[tuple[float, float]] = []
    final = None
    for e in events:
        kind = e["event"]
        if kind == "start":  # a (re)start forgets what came after the epoch it starts from
            keep = int(e["start_epoch"])
            history = {k: v for k, v in history.items() if k <= keep}
            batches = [b for b in batches if b[0] <= keep]
            st.epochs, st.epoch, st.step, final = int(e["epochs"]), keep + 1, 0, None
        elif kind == "batch":
            st.epoch, st.step, st.steps = e["epoch"], e["step"], e["steps"]
            batches.append((e["epoch"] - 1 + e["step"] / e["steps"], e["loss"]))
        elif kind == "epoch":
            history[int(e["record"]["epoch"])] = e["record"]
        elif kind in ("done", "error"):
            final = e
    st.history = [history[k] for k in sorted(history)]
    st.batches = batches
    alive = _alive(job)
    finished = (final is not None and final["event"] == "done") or (
        not alive and len(st.history) >= st.epochs  # a cancel that came after the last epoch
    )
    if finished:
        st.state = "done"
    elif (folder / CANCELLED).is_file():
        st.state = "cancelling" if alive else "cancelled"
    elif final is not None and not alive:
        st.state, st.message = "failed", final.get("message") or _failure(folder, None)
    elif not alive:
        st.state, st.message = "failed", _failure(folder, _exit_code(job))
    elif batches:
        st.state = "training"
    st.log_tail = log_tail(folder)
    exported = Path(exports) / job["export"]
    st.checkpoint = exported if exported.is_file() else None
    return st


_PREPARING = re.compile(r"preparing images:.*?(\d+)/(\d+)")


def preparing_progress(log: str) -> tuple[int, int] | None:
    """``(done, total)`` of the image preparation from the last progress line of a run's log
    (tqdm's ``preparing images: 50%|█████ | 2000/4000 [...]``), or None when there is none."""
    found = _PREPARING.findall(log)
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def check_name(name: str, runs: str | os.PathLike[str], exports: str | os.PathLike[str]) -> None:
    """Raise :class:`ParameterError` unless ``name`` is a new run name (letters, digits, ``.``,
    ``_``, ``-``), free both as a run folder and as a checkpoint."""
    if not NAME_PATTERN.fullmatch(name) or name.endswith(".pt"):
        raise ParameterError(
            f"run name {name!r}: use 1-64 letters, digits, '.', '_' or '-', without '.pt'"
        )
    if name in RESERVED:
        raise ParameterError(f"{name!r} is the shipped model's name; pick another")
    if (Path(runs) / name).exists() or (Path(exports) / f"{name}.pt").exists():
        raise ParameterError(f"a run or checkpoint named {name!r} exists already; pick another")


def _shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it: the command lands in model cards."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _launch(folder: Path, job: dict[str, Any], exports: Path, resume: bool) -> None:
    argv = [
        sys.executable, "-m", "svhn_xai", "train", *job["options"],
        "--epochs", str(job["epochs"]),
        "--out", _shown_path(folder / RESUMABLE),
        "--progress", _shown_path(folder / PROGRESS),
        "--export", _shown_path(exports / job["export"]),
        *(["--resume"] if resume else []),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # the child imports this very copy of svhn_xai, whatever is installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with open(folder / LOG, "ab") as log:
        child = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: cancel stops it and only it
        )
    _CHILDREN[child.pid] = child
    job.update(
        pid=child.pid, pid_start=_process_start(child.pid), command=argv[1:], started=time.time()
    )
    tmp = folder / f".{JOB}.tmp"  # renamed into place: a reader never sees half a file
    tmp.write_text(json.dumps(job, indent=2) + "\n")
    os.replace(tmp, folder / JOB)


def start(
    name: str,
    options: list[str],
    epochs: int,
    runs: str | os.PathLike[str],
    exports: str | os.PathLike[str],
) -> Path:
    """Start ``python -m svhn_xai train OPTIONS --epochs EPOCHS`` in the background as run
    ``name``; return its folder ``runs/name``.

    ``options`` are train options other than ``--epochs``, ``--out``, ``--progress``,
    ``--export`` and ``--resume``, which the job sets.
    """
    runs, exports = Path(runs), Path(exports)
    check_name(name, runs, exports)
    if epochs < 1:
        raise ParameterError(f"epochs must be at least 1, got {epochs}")
    folder = runs / name
    folder.mkdir(parents=True)
    exports.mkdir(parents=True, exist_ok=True)
    job = {"name": name, "options": list(options), "epochs": int(epochs), "export": f"{name}.pt"}
    _launch(folder, job, exports, resume=False)
    return folder


def resume(folder: str | os.PathLike[str], exports: str | os.PathLike[str]) -> None:
    """Continue a cancelled or failed run from its last completed epoch."""
    folder = Path(folder)
    st = status(folder, exports)
    if not st.resumable:
        raise ParameterError(f"run {st.name} is {st.state}; only a stopped run can be resumed")
    (folder / CANCELLED).unlink(missing_ok=True)
    _launch(folder, read_job(folder), Path(exports), resume=True)


def cancel(folder: str | os.PathLike[str], grace: float = 10.0) -> None:
    """Stop a run: SIGTERM to its process group (the run unwinds and exits), SIGKILL after
    ``grace`` seconds. Completed epochs stay on disk, so it can be resumed."""
    folder = Path(folder)
    job = read_job(folder)
    if not _alive(job):  # finished already: nothing to stop, nothing to mark
        return
    (folder / CANCELLED).write_text(f"{time.time():.3f}\n")
    pid = job["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while _alive(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(job):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        child = _CHILDREN.get(pid)
        if child is not None:
            child.wait()


def runs_newest_first(runs: str | os.PathLike[str]) -> list[Path]:
    """Run folders under ``runs``, the most recently started first."""
    found = [p.parent for p in Path(runs).glob(f"*/{JOB}")]
    return sorted(found, key=lambda p: read_job(p).get("started", 0), reverse=True)
