"""App latency in a real browser: cold start to the first interactive Explain page, and the
round trip of a threshold change (keypress to the new IoU shown).

    python -m benchmarks.app_latency [--repeats 20] [--out results/app_latency.json]
    (from the repository root: it uses tests/app)

Needs Debian's Chromium (/usr/bin/chromium). Everything runs on 127.0.0.1. The figures are
also written to ``--out``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from benchmarks.record import default_path, save
from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT
from tests.app.browser import CHROMIUM, CHROMIUM_ARGS, metric_value, streamlit_server, wait_idle

IOU_CHANGED = """(before) => {
    const metric = [...document.querySelectorAll('[data-testid="stMetric"]')]
        .find((m) => m.innerText.includes("IoU₁"));
    const value = metric && metric.querySelector('[data-testid="stMetricValue"]');
    return value !== null && value !== undefined && value.innerText !== before;
}"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=str(default_path("app_latency")))
    args = parser.parse_args()
    tic = time.perf_counter()
    with streamlit_server() as url, sync_playwright() as pw:
        server_up = time.perf_counter() - tic
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url + "/Explain")
        page.locator('[data-testid="stMetric"]').filter(has_text="Compute time").wait_for(
            timeout=300_000
        )
        wait_idle(page)
        cold = time.perf_counter() - tic
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="Threshold")
        slider.get_by_role("slider").focus()
        # start from threshold 0: the default gradient map is sparse, and at 0.5 a 0.01 step
        # moves a pixel or two, below the three decimals the IoU is shown with
        page.keyboard.press("Home")
        trips, unchanged = [], 0
        for i in range(args.repeats):
            wait_idle(page, timeout=60_000)
            before = metric_value(page, "IoU₁")
            start = time.perf_counter()
            # walk 0.01 at a time, 10 steps up then 10 down: back and forth over one step can sit
            # between two pixel values and never change the mask
            page.keyboard.press("ArrowLeft" if (i // 10) % 2 else "ArrowRight")
            try:  # the user-visible answer: the new IoU on screen, polled every frame
                page.wait_for_function(IOU_CHANGED, arg=before, polling="raf", timeout=5_000)
            except PlaywrightTimeout:  # a 0.01 step that left the mask as it was
                unchanged += 1
                continue
            trips.append(time.perf_counter() - start)
        browser.close()
    print(f"server up {server_up:.1f} s; cold start to interactive Explain page {cold:.1f} s")
    measured = {
        "server_up_s": server_up,
        "cold_start_s": cold,
        "threshold_changes": len(trips),
        "unchanged_steps": unchanged,
        "threshold_round_trip_median_ms": statistics.median(trips) * 1e3 if trips else None,
        "threshold_round_trip_max_ms": max(trips) * 1e3 if trips else None,
    }
    save(args.out, measured, DEFAULT_CHECKPOINT)
    if not trips:
        print(f"no threshold step changed the IoU ({unchanged} tried)")
        return
    print(
        f"threshold change round trip (keypress to the new IoU on screen): median "
        f"{statistics.median(trips) * 1e3:.0f} ms, max {max(trips) * 1e3:.0f} ms over "
        f"{len(trips)} changes ({unchanged} steps left the IoU unchanged)"
    )


if __name__ == "__main__":
    main()
