"""App latency in a real browser: cold start to the first interactive Explain page, and the
round trip of a threshold change (keypress to the new IoU shown).

    python benchmarks/app_latency.py [--repeats 5]

Needs Debian's Chromium (/usr/bin/chromium). Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from tests.app.browser import CHROMIUM, CHROMIUM_ARGS, metric_value, streamlit_server, wait_idle

IOU_CHANGED = """(before) => {
    const metric = [...document.querySelectorAll('[data-testid="stMetric"]')]
        .find((m) => m.innerText.includes("IoU₁"));
    const value = metric && metric.querySelector('[data-testid="stMetricValue"]');
    return value !== null && value !== undefined && value.innerText !== before;
}"""


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
        trips, unchanged = [], 0
        for i in range(args.repeats):
            wait_idle(page, timeout=60_000)
            before = metric_value(page, "IoU₁")
            start = time.perf_counter()
            page.keyboard.press("ArrowLeft" if i % 2 else "ArrowRight")
            try:  # the user-visible answer: the new IoU on screen, polled every frame
                page.wait_for_function(IOU_CHANGED, arg=before, polling="raf", timeout=30_000)
            except PlaywrightTimeout:  # a 0.01 step that left the mask as it was
                unchanged += 1
                continue
            trips.append(time.perf_counter() - start)
        browser.close()
    print(f"server up {server_up:.1f} s; cold start to interactive Explain page {cold:.1f} s")
    print(
        f"threshold change round trip (keypress to the new IoU on screen): median "
        f"{statistics.median(trips) * 1e3:.0f} ms, max {max(trips) * 1e3:.0f} ms over "
        f"{len(trips)} changes ({unchanged} steps left the mask unchanged)"
    )


if __name__ == "__main__":
    main()
