"""App latency in a real browser: cold start to the first interactive Explain page, and the
round trip of a threshold change (keypress to the new IoU shown).

    python benchmarks/app_latency.py [--repeats 5]

Needs Debian's Chromium (/usr/bin/chromium). Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import sync_playwright

from tests.app.browser import CHROMIUM, CHROMIUM_ARGS, metric_value, streamlit_server, wait_idle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
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
        trips = []
        for i in range(args.repeats):
            before = metric_value(page, "P(digit")
            start = time.perf_counter()
            page.keyboard.press("ArrowLeft" if i % 2 else "ArrowRight")
            wait_idle(page, timeout=60_000)
            trips.append(time.perf_counter() - start)
            assert metric_value(page, "P(digit") == before  # same explanation, new threshold
        browser.close()
    print(f"server up {server_up:.1f} s; cold start to interactive Explain page {cold:.1f} s")
    print(
        f"threshold change round trip: median {statistics.median(trips) * 1e3:.0f} ms, "
        f"max {max(trips) * 1e3:.0f} ms over {len(trips)} changes"
    )


if __name__ == "__main__":
    main()
