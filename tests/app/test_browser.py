"""The dashboard in a real browser: upload, mark a box, change method and threshold."""

from pathlib import Path

import pytest

from tests.app.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    metric_value,
    streamlit_server,
    wait_idle,
)

ARTEFACTS = REPO / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed "
                       "(apt-get install chromium); .ci/run installs it"),
]  # fmt: skip


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A real SVHN photograph (2.png, "23") from the fixtures."""
    return REPO / "tests" / "fixtures" / "svhn" / "train" / "2.png"


def test_upload_mark_box_change_method_and_threshold(photo):
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url + "/Explain", timeout=120_000)
        page.get_by_text("Explain", exact=True).first.wait_for(timeout=120_000)
        wait_idle(page)
        page.get_by_text("Upload", exact=True).click()
        wait_idle(page)
        page.locator('input[type="file"]').set_input_files(str(photo))
        wait_idle(page)
        # the target digit is 3; drag a box over it on the photo (199 x 83 px, "3" at x 98-124)
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.scroll_into_view_if_needed()
        plot = chart.locator(".nsewdrag").first
        box = plot.bounding_box()
        sx, sy = box["width"] / 199, box["height"] / 83
        page.mouse.move(box["x"] + 98 * sx, box["y"] + 25 * sy)
        page.mouse.down()
        page.mouse.move(box["x"] + 110 * sx, box["y"] + 40 * sy, steps=5)
        page.mouse.move(box["x"] + 124 * sx, box["y"] + 57 * sy, steps=5)
        page.mouse.up()
        wait_idle(page)
        x0 = float(page.get_by_label("x0").input_value())
        assert 90 <= x0 <= 106, f"box select did not reach the inputs (x0 = {x0})"
        page.screenshot(path=str(ARTEFACTS / "explain_upload.png"), full_page=True)
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Method").click()
        page.get_by_role("option", name="Occlusion").click()
        wait_idle(page)
        before = metric_value(page, "IoU₁")
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="Threshold")
        slider.get_by_role("slider").focus()
        for _ in range(25):
            page.keyboard.press("ArrowLeft")
        wait_idle(page)
        after = metric_value(page, "IoU₁")
        page.screenshot(path=str(ARTEFACTS / "explain_threshold.png"), full_page=True)
        browser.close()
    assert before != after, "moving the threshold did not change IoU₁"
