"""A short, bounded load run of the app: N sessions at once (AppTest instances in threads),
each changing image, method and threshold for a fixed time. Prints errors (must be 0), median
and p95 latency per rerun, and the process's memory growth.

    python benchmarks/app_load.py [--sessions 8] [--seconds 120]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "app" / "pages" / "1_Explain.py")
METHODS = ["saliency", "input_x_gradient", "integrated_gradients", "guided_backprop", "lrp"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def session(seed: int, stop: float, latencies: list, errors: list) -> None:
    rng = random.Random(seed)
    at, action = None, -1.0
    try:
        at = AppTest.from_file(PAGE, default_timeout=300).run()
        while time.monotonic() < stop:
            action = rng.random()
            tic = time.perf_counter()
            if action < 0.3:
                at.number_input(key="synthetic_index").set_value(rng.randrange(50))
            elif action < 0.5:
                at.selectbox(key="method").set_value(rng.choice(METHODS))
            else:
                at.slider(key="threshold_value").set_value(round(rng.random(), 2))
            at.run()
            latencies.append(time.perf_counter() - tic)
            if at.exception:
                errors.append(at.exception[0].value)
    except Exception as exc:  # counted, never hidden, with what the page showed at the time
        shown = [m.value for m in (*at.error, *at.warning)] if at is not None else []
        errors.append(f"{exc!r} after action {action:.2f}; page showed {shown}")


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(PAGE).parents[1]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    AppTest.from_file(PAGE, default_timeout=300).run()  # warm the model cache
    start_mb = rss_mb()
    latencies, errors = [], []
    stop = time.monotonic() + args.seconds
    threads = [
        threading.Thread(target=session, args=(i, stop, latencies, errors))
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
        f"{len(errors)} errors"
    )
    if latencies:
        print(
            f"latency per rerun: median {statistics.median(latencies) * 1e3:.0f} ms, "
            f"p95 {p95 * 1e3:.0f} ms"
        )
    print(
        f"memory: {start_mb:.0f} MB before, {rss_mb():.0f} MB after ({rss_mb() - start_mb:+.0f} MB)"
    )
    for e in errors[:5]:
        print("error:", e)


if __name__ == "__main__":
    main()
