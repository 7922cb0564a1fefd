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


def drag_until_picked(page, x0_input, box: tuple, size: tuple, tries: int = 3) -> float:
    """Drag ``box`` (photo pixels) on the first Plotly image; returns the x0 the page shows.

    A drag that lands while Plotly is still laying out the figure is lost, so it is retried
    (at most ``tries`` times) until the number input below the photo moves."""
    start = x0_input.input_value()
    for _ in range(tries):
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.scroll_into_view_if_needed()
        plot = chart.locator(".nsewdrag").first
        plot.wait_for(state="visible", timeout=60_000)
        page.wait_for_timeout(500)  # let Plotly finish its layout before reading the geometry
        frame = plot.bounding_box()
        sx, sy = frame["width"] / size[0], frame["height"] / size[1]
        x0, y0, x1, y1 = box
        page.mouse.move(frame["x"] + x0 * sx, frame["y"] + y0 * sy)
        page.mouse.down()
        page.mouse.move(frame["x"] + (x0 + x1) / 2 * sx, frame["y"] + (y0 + y1) / 2 * sy, steps=5)
        page.mouse.move(frame["x"] + x1 * sx, frame["y"] + y1 * sy, steps=5)
        page.mouse.up()
        for _ in range(40):  # up to 20 s for the rerun that moves the numbers
            page.wait_for_timeout(500)
            if x0_input.input_value() != start:
                wait_idle(page)
                return float(x0_input.input_value())
    return float(start)


def test_upload_mark_box_change_method_and_threshold(photo):
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url + "/Explain", timeout=120_000)
        page.get_by_text("Explain", exact=True).first.wait_for(timeout=120_000)
        wait_idle(page)
        target = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
        target.filter(has_text="Target digit").click()
        page.get_by_role("option", name="3", exact=True).click()
        wait_idle(page)
        page.get_by_text("Upload", exact=True).click()
        wait_idle(page)
        page.locator('input[type="file"]').set_input_files(str(photo))
        wait_idle(page)
        # the target digit is 3; drag a box over it on the photo (199 x 83 px, "3" at x 98-124)
        x0_input = page.get_by_label("x0")
        x0_input.wait_for(timeout=60_000)  # the upload has been decoded and the figure drawn
        assert "Mark digit 3" in page.get_by_text("Mark digit").inner_text()
        x0 = drag_until_picked(page, x0_input, (98, 25, 124, 57), size=(199, 83))
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
