"""A short, bounded load run of the app: N sessions at once (AppTest instances in threads),
each changing image, method and threshold for a fixed time. Prints the errors a user would
see (exceptions or error messages on the page; must be 0), AppTest's own failures apart, the
median and p95 latency per rerun, and the process's memory growth.

    python -m benchmarks.app_load [--sessions 8] [--seconds 120] [--out results/app_load.json]

The figures are also written to ``--out``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from benchmarks.record import default_path, save
from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT

PAGE = str(Path(__file__).resolve().parents[1] / "app" / "pages" / "1_Explain.py")
METHODS = ["saliency", "input_x_gradient", "integrated_gradients", "guided_backprop", "lrp"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def session(seed: int, stop: float, latencies: list, errors: list, harness: list) -> None:
    """One user: random image, method and threshold changes until ``stop``.

    ``errors`` collects what a user would see go wrong: an exception in the page or an error
    message on it. ``harness`` collects exceptions raised by AppTest itself while it looks up
    widget state between runs (it is not made for threads); the session then starts afresh."""
    rng = random.Random(seed)
    at = None
    while time.monotonic() < stop:
        try:
            if at is None:
                at = AppTest.from_file(PAGE, default_timeout=300)
                at.session_state["source"] = "synthetic"  # the page opens on a real photo
                at.session_state["threshold_mode"] = "value"
                at.run()
            action = rng.random()
            tic = time.perf_counter()
            if action < 0.3:
                at.number_input(key="synthetic_index").set_value(rng.randrange(50))
            elif action < 0.5:
                at.selectbox(key="method").set_value(rng.choice(METHODS))
            else:
                at.slider(key="threshold_value").set_value(round(rng.random(), 2))
            at.run()  # the page's own exceptions land in at.exception; this raises for AppTest's
        except Exception as exc:  # noqa: BLE001 - AppTest's own lookup failed: counted apart
            page = [w.value for w in (*at.warning, *at.info)] if at is not None else []
            harness.append(f"{exc!r}; the page showed {page}")
            at = None
            continue
        latencies.append(time.perf_counter() - tic)
        shown = [e.value for e in at.exception] + [e.value for e in at.error]
        errors.extend(shown)


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(PAGE).parents[1]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--out", default=str(default_path("app_load")))
    args = parser.parse_args()
    AppTest.from_file(PAGE, default_timeout=300).run()  # warm the model cache
    start_mb = rss_mb()
    latencies, errors, harness = [], [], []
    stop = time.monotonic() + args.seconds
    threads = [
        threading.Thread(target=session, args=(i, stop, latencies, errors, harness))
        for i in range(args.sessions)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    print(
        f"{args.sessions} sessions for {args.seconds:.0f} s: {len(latencies)} reruns, "
        f"{len(errors)} errors shown to a user, {len(harness)} AppTest harness errors"
    )
    if latencies:
        print(
            f"latency per rerun: median {statistics.median(latencies) * 1e3:.0f} ms, "
            f"p95 {p95 * 1e3:.0f} ms"
        )
    end_mb = rss_mb()
    print(f"memory: {start_mb:.0f} MB before, {end_mb:.0f} MB after ({end_mb - start_mb:+.0f} MB)")
    measured = {
        "sessions": args.sessions,
        "seconds": args.seconds,
        "reruns": len(latencies),
        "user_errors": len(errors),
        "harness_errors": len(harness),
        "median_ms": statistics.median(latencies) * 1e3 if latencies else None,
        "p95_ms": p95 * 1e3,
        "memory_before_mb": start_mb,
        "memory_after_mb": end_mb,
    }
    save(args.out, measured, DEFAULT_CHECKPOINT)
    for e in errors[:5]:
        print("error:", e)
    for e in harness[:5]:
        print("harness:", e)


if __name__ == "__main__":
    main()
