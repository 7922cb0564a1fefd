"""The dashboard's screenshots in docs/img: Explain on a real photo (the heatmap on the photo) and
Compare, taken from a real Streamlit server in Chromium.

    python -m benchmarks.screenshots [--folder "shared sample"] [--index 11] [--digit 3]

(from the repository root: it uses tests/app). The Explain view is opened through its link
(query parameters), the same way a shared link opens it. Each picture is saved as a 256-colour
PNG to stay small.
"""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from tests.app.browser import CHROMIUM, CHROMIUM_ARGS, REPO, streamlit_server, wait_idle

OUT = REPO / "docs" / "img"


def save_small(page, path: Path, height: int) -> None:
    """A screenshot of the top ``height`` px of the page, quantised to 256 colours."""
    raw = path.with_suffix(".raw.png")
    page.screenshot(path=str(raw), clip={"x": 0, "y": 0, "width": 1400, "height": height})
    picture = Image.open(raw).convert("RGB")
    picture.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    raw.unlink()
    print(f"{path.relative_to(REPO)}: {picture.size[0]}x{picture.size[1]}, "
          f"{path.stat().st_size / 1024:.0f} KB")  # fmt: skip


def settled(page) -> None:
    """The run is over, a slow setting was allowed ("Run anyway"), and Plotly has drawn."""
    wait_idle(page, 300_000)
    buttons = page.get_by_role("button", name="Run anyway")
    while buttons.count():
        buttons.first.click()
        wait_idle(page, 300_000)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    for i in range(charts.count()):
        charts.nth(i).locator(".main-svg").first.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default="shared sample", help="as the page names it")
    parser.add_argument("--index", type=int, default=11, help="12.png, '63'")
    parser.add_argument("--digit", type=int, default=3)
    parser.add_argument("--method", default="occlusion")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    view = {"source": "svhn", "folder": args.folder, "index": args.index, "digit": args.digit}
    with streamlit_server() as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        query = urllib.parse.urlencode({**view, "method": args.method})
        page.goto(f"{url}/Explain?{query}", timeout=300_000)
        page.get_by_text("Explain", exact=True).first.wait_for(timeout=300_000)
        settled(page)
        page.get_by_text("The heatmap on the photo").wait_for(timeout=300_000)
        settled(page)
        save_small(page, OUT / "explain.png", 1330)
        # Compare in the same session: the sidebar digit and the picked photo carry over
        page.get_by_role("link", name="Compare").first.click()
        page.get_by_text("Compare methods", exact=True).first.wait_for(timeout=300_000)
        settled(page)
        page.locator('[data-testid="stDataFrame"]').wait_for(timeout=300_000)
        settled(page)
        save_small(page, OUT / "compare.png", 1000)
        browser.close()


if __name__ == "__main__":
    main()
