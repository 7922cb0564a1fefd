"""A real Streamlit server and a real Chromium (Debian's, driven by Playwright), for tests and
the latency benchmark. Everything stays on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@contextmanager
def streamlit_server(timeout: float = 120.0):
    """``streamlit run app/Home.py`` on a free local port; yields its URL. Its output goes to a
    file (a pipe nobody reads would stall a long-lived server once full)."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "Home.py"),
           "--server.port", str(port), "--server.address", "127.0.0.1",
           "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    urllib.request.urlopen(url + "/_stcore/health", timeout=2).read()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        out = log.read().decode(errors="replace")
                        raise RuntimeError(f"streamlit did not start:\n{out[-2000:]}") from None
                    time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def metric_value(page, label: str) -> str:
    """Text of the ``st.metric`` whose label is ``label``."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def changed_metric(page, label: str, old: str, timeout_ms: int = 60_000) -> str:
    """The ``st.metric`` ``label``'s text once it differs from ``old``, or its text after
    ``timeout_ms``: a slider's rerun starts after the browser's debounce, which on a busy machine
    can come after :func:`wait_idle` has already seen an idle page."""
    for _ in range(timeout_ms // 500):
        now = metric_value(page, label)
        if now != old:
            break
        page.wait_for_timeout(500)
    wait_idle(page)
    return metric_value(page, label)


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until Streamlit has finished running: no 'Running…' indicator and no placeholder
    skeleton, for one second on end. A page that reruns itself (restoring its view from the
    URL does) is idle for a moment between its runs, so one idle glance is not enough."""
    page.wait_for_timeout(300)
    page.evaluate("() => { window.__idleSince = undefined; }")
    page.wait_for_function(
        """() => {
            const busy = document.querySelector(
                '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]');
            if (busy) { window.__idleSince = undefined; return false; }
            window.__idleSince = window.__idleSince ?? performance.now();
            return performance.now() - window.__idleSince > 1000;
        }""",
        timeout=timeout,
        polling=100,
    )
