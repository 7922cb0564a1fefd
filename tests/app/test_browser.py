"""The dashboard in a real browser: reruns of a perturbation method and of Compare; upload, mark
two boxes, leave and come back, change method and threshold."""

from contextlib import contextmanager
from pathlib import Path

import pytest

from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT
from svhn_xai.scoring.calibration import calibration_path
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL, THRESHOLD_MODES
from tests.app.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    changed_metric,
    metric_value,
    streamlit_server,
    wait_idle,
)

ARTEFACTS = REPO / "test-artifacts"
CALIBRATION = calibration_path(DEFAULT_CHECKPOINT)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed "
                       "(apt-get install chromium); .ci/run installs it"),
]  # fmt: skip


@pytest.fixture(scope="module")
def server():
    """One server for the module's tests: each test opens its own browser context, which is a
    new Streamlit session (what a newcomer gets), so only the server's start-up is shared."""
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def explain_page(url: str, browser):
    """A fresh session (a new browser context) on the Explain page of ``url``: yields
    (url, page)."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        page = context.new_page()
        page.goto(url + "/Explain", timeout=120_000)
        page.get_by_text("Explain", exact=True).first.wait_for(timeout=120_000)
        yield url, page
    finally:
        context.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A real SVHN photograph (2.png, "23") from the fixtures."""
    return REPO / "tests" / "fixtures" / "svhn" / "train" / "2.png"


def drag_until_marked(page, box: tuple, size: tuple, tries: int = 3) -> str:
    """Drag ``box`` (photo pixels) on the first Plotly image; returns the "Marked: …" caption.

    A drag that lands while Plotly is still laying out the figure is lost, so it is retried
    (at most ``tries`` times) until the page lists the marked box."""
    marked = page.get_by_text("Marked: digit")
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
        for _ in range(40):  # up to 20 s for the rerun that adds the row
            page.wait_for_timeout(500)
            if marked.count():
                wait_idle(page)
                return marked.first.inner_text()
    return ""


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the main area's selectbox labelled ``label``."""
    main = page.locator('[data-testid="stMain"]')
    box = main.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type(option)  # the list is virtualised: filter it to the option
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def run_if_asked(page, ready: str = '[data-testid="stMetric"]', text: str = "Compute time") -> None:
    """Click "Run anyway" where the page asks (on a busy machine a default may estimate slow),
    and wait for the scores, ``ready`` with ``text`` (a perturbation method can take a while on a
    shared CPU)."""
    wait_idle(page, 300_000)
    buttons = page.get_by_role("button", name="Run anyway")
    for _ in range(buttons.count()):
        buttons.nth(0).click()
        wait_idle(page, 300_000)
    page.locator(ready).filter(has_text=text).first.wait_for(timeout=300_000)


def move_threshold(page, presses: int = 25) -> None:
    """Move the threshold parameter of the default mode (the library's) down by ``presses``."""
    mode = THRESHOLD_MODES[DEFAULT_PROTOCOL.mode]
    if mode.param is None:  # a mode without a parameter: switch to one that has one
        mode = next(m for m in THRESHOLD_MODES.values() if m.param is not None)
    sliders = page.locator('[data-testid="stSlider"]').filter(has_text=mode.param)
    if sliders.count() == 0:  # calibrated per method (no slider), or another mode: pick this one
        page.get_by_text(mode.label, exact=True).first.click()
        wait_idle(page)
    slider = sliders.first
    slider.get_by_role("slider").focus()
    for _ in range(presses):
        page.keyboard.press("ArrowLeft")
    wait_idle(page)


def assert_healthy(page) -> None:
    """No exception box, and nothing of the server's file system in the page's text."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")
    text = page.inner_text("body")
    assert str(REPO) not in text and str(REPO.parent) + "/" not in text


def test_occlusion_survives_threshold_move_and_method_round_trip(server, browser):
    with explain_page(server, browser) as (url, page):
        wait_idle(page)
        pick(page, "Method", "Occlusion")
        run_if_asked(page)
        assert_healthy(page)
        before = metric_value(page, "IoU₁")
        move_threshold(page)
        after = changed_metric(page, "IoU₁", before)
        assert_healthy(page)
        pick(page, "Method", "Saliency")
        pick(page, "Method", "Occlusion")
        move_threshold(page, 5)
        assert_healthy(page)
        assert metric_value(page, "IoU₁")
    assert before != after, "moving the threshold did not change IoU₁"


def upload_for_digit(page, photo: Path, digit: int) -> None:
    """On a fresh Explain page: set the target ``digit`` in the sidebar, choose Upload, upload
    ``photo``, and wait for the page to say that nothing is scored until a box is marked."""
    wait_idle(page)
    target = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    target.filter(has_text="Target digit").click()
    page.get_by_role("option", name=str(digit), exact=True).click()
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('input[type="file"]').set_input_files(str(photo))
    wait_idle(page)
    page.get_by_text("Nothing is scored").wait_for(timeout=60_000)


def marked_caption(page) -> str:
    return page.get_by_text("Marked: digit").first.inner_text()


def test_an_upload_with_two_boxes_survives_a_source_switch_pages_and_a_method_change(
    photo, server, browser
):
    """Upload "23": nothing is scored until a box is marked. Mark both digits (the second box
    relabelled with the digit picker), then leave the upload three ways and come back: the
    photo, both boxes and the score are still there; the threshold still moves the score."""
    ARTEFACTS.mkdir(exist_ok=True)
    with explain_page(server, browser) as (url, page):
        upload_for_digit(page, photo, 3)  # no box yet: no IoU
        assert page.get_by_text("IoU₁").count() == 0
        # the target digit is 3; drag a box over it on the photo (199 x 83 px, "3" at x 98-124)
        first = drag_until_marked(page, (98, 25, 124, 57), size=(199, 83))
        assert first.startswith("Marked: digit 3 at x 9"), f"box select failed: {first!r}"
        # the Upload choice stopped the page before the threshold controls for a few runs:
        # they come back at the library's default, not at their minimum
        mode = THRESHOLD_MODES[DEFAULT_PROTOCOL.mode]
        sliders = page.locator('[data-testid="stSlider"]').filter(has_text=mode.param)
        if CALIBRATION.is_file():  # the default reading: each method at its calibrated value
            assert sliders.count() == 0 and page.get_by_text("chosen on").count() > 0
        elif mode.param is not None:
            shown = float(sliders.first.locator('[data-testid="stSliderThumbValue"]').inner_text())
            assert shown == DEFAULT_PROTOCOL.value, f"{mode.param} came back as {shown}"
        page.screenshot(path=str(ARTEFACTS / "explain_upload.png"), full_page=True)
        drag_until_marked(page, (76, 29, 98, 61), size=(199, 83))  # the "2", starts as 0
        assert "digit 0 at x 7" in marked_caption(page), marked_caption(page)
        picker = page.locator('[data-testid="stButtonGroup"]').filter(has_text="box just drawn")
        picker.get_by_role("radio", name="2", exact=True).click()  # the digit picker
        wait_idle(page)
        marked = marked_caption(page)
        assert "digit 3 at x 9" in marked and "digit 2 at x 7" in marked, marked
        run_if_asked(page)
        score = metric_value(page, "IoU₁")
        assert "boxes=" in page.url

        page.get_by_text("Real photo", exact=True).click()  # away to another source
        wait_idle(page)
        page.get_by_text("Upload", exact=True).click()  # and back
        wait_idle(page)
        run_if_asked(page)
        assert marked_caption(page) == marked
        assert metric_value(page, "IoU₁") == score

        sidebar = page.locator('[data-testid="stSidebarNav"]')
        sidebar.get_by_text("Compare", exact=True).click()  # another page, same session
        page.get_by_text("Compare methods", exact=True).first.wait_for(timeout=120_000)
        run_if_asked(page, '[data-testid="stDataFrame"]', "")  # its defaults hold Occlusion
        assert marked_caption(page) == marked
        move_threshold(page)  # a perturbation method's table, rerun
        assert_healthy(page)
        assert page.locator('[data-testid="stDataFrame"]').count() >= 1
        sidebar.get_by_text("Explain", exact=True).click()
        page.get_by_text("Compute time").first.wait_for(timeout=300_000)
        wait_idle(page)
        assert marked_caption(page) == marked
        assert metric_value(page, "IoU₁") == score

        pick(page, "Method", "Integrated Gradients")  # a method change
        run_if_asked(page)
        assert marked_caption(page) == marked
        before = metric_value(page, "IoU₁")
        move_threshold(page)
        after = changed_metric(page, "IoU₁", before)
        assert_healthy(page)
        page.screenshot(path=str(ARTEFACTS / "explain_upload_two_boxes.png"), full_page=True)
    assert before != after, "moving the threshold did not change IoU₁ on the upload"


def test_contrast_and_all_digits_views_survive_reruns(server, browser):
    with explain_page(server, browser) as (url, page):
        wait_idle(page)
        run_if_asked(page)
        plain = metric_value(page, "Mass in box")
        pick(page, "…and not digit", "8")
        run_if_asked(page)
        assert_healthy(page)
        assert "contrast=8" in page.url
        contrastive = metric_value(page, "Mass in box")
        move_threshold(page)
        assert_healthy(page)
        assert metric_value(page, "IoU₁")

        # photo 2 ("23", in the fixtures and the shared sample alike): class sensitivity needs
        # two different digits, and a new session's photo may show one
        page.goto(url + "/All_digits?source=svhn&index=1", timeout=120_000)
        page.get_by_text("All digits", exact=True).first.wait_for(timeout=120_000)
        run_if_asked(page, '[data-testid="stMetric"]', "Class sensitivity")
        assert page.locator('[data-testid="stPlotlyChart"]').count() >= 10
        move_threshold(page)
        assert_healthy(page)
        page.get_by_role("button", name="Open 2 on Explain").click()
        page.get_by_text("Compute time").first.wait_for(timeout=300_000)
        wait_idle(page)
        assert_healthy(page)
        assert "digit=2" in page.url
    assert plain != contrastive, "the contrastive map scored like the plain one"


PAGE_LINKS = [  # a page's address with its view, and what a newcomer must see there
    (
        "/Compare",
        {
            "source": "synthetic",
            "index": "4",
            "methods": "saliency,lrp",
            "mode": "topk",
            "t": "12.0",
        },
        ["Saliency", "LRP", "Top-k %"],
    ),  # fmt: skip
    (
        "/All_digits",
        {"source": "synthetic", "index": "4", "method": "saliency", "mode": "topk", "t": "9.0"},
        ["Saliency", "Class sensitivity"],
    ),  # fmt: skip
    (
        "/Evaluate",
        {
            "results": "compute",
            "images": "Synthetic test images",
            "n": "3",
            "methods": "saliency",
            "mode": "otsu",
        },
        ["Compute now", "Otsu"],
    ),  # fmt: skip
]


@pytest.mark.parametrize("path, view, shown", PAGE_LINKS)
def test_a_page_opened_at_its_address_in_a_fresh_browser_shows_that_view(
    path, view, shown, server, browser
):
    from urllib.parse import parse_qsl, urlencode, urlsplit

    url = server
    context = browser.new_context(viewport={"width": 1500, "height": 1100})  # a fresh session
    try:
        page = context.new_page()
        page.goto(f"{url}{path}?{urlencode(view)}", timeout=120_000)
        page.locator('[data-testid="stMain"]').wait_for(timeout=120_000)
        page.wait_for_timeout(3000)  # the first run starts after the page has loaded
        wait_idle(page, 300_000)
        assert_healthy(page)
        chosen = page.eval_on_selector_all(  # the widgets' values as the user sees them
            'input[type="radio"]:checked, [data-testid="stSelectbox"]',
            "els => els.map(e => e.matches('input') ? e.closest('label').innerText : "
            "[e.innerText, ...[...e.querySelectorAll('input')].map(i => i.value)].join(' '))",
        )
        body = page.inner_text("body") + "\n".join(chosen)
        for text in shown:
            assert text in body, f"{text!r} not on {path}"
        kept = dict(parse_qsl(urlsplit(page.url).query))
        assert {k: kept.get(k) for k in view} == view, "the page did not keep its view"
        page.screenshot(path=str(ARTEFACTS / f"link{path.replace('/', '_')}.png"))
    finally:
        context.close()
