"""report.html in headless Chromium: the verdict and the interface table are visible without scrolling.

Uses Debian's chromium (installed by .ci/run), never Playwright's own browser download. The screenshot
is kept as a test artefact in reports/test-artefacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

from harness.report import render_reports  # noqa: E402
from test_report import RUN_ID, record_full_run, record_ready_run  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parent.parent / "reports" / "test-artefacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True, timeout=30_000)
        try:
            yield instance
        finally:
            instance.close()


def _within_viewport(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not rendered"
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= VIEWPORT["width"], (selector, box)
    assert box["y"] + box["height"] <= VIEWPORT["height"], (selector, box)


@pytest.mark.parametrize("kind", ["not-ready", "ready"])
def test_verdict_and_interface_table_are_visible_without_scrolling(tmp_path: Path, browser, kind: str) -> None:
    record = record_full_run if kind == "not-ready" else record_ready_run
    folder = record(tmp_path / RUN_ID)
    html = render_reports(folder)["html"]
    page = browser.new_page(viewport=VIEWPORT)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(html.resolve().as_uri(), wait_until="load", timeout=30_000)
        _within_viewport(page, "#verdict")
        _within_viewport(page, "#interface-table")
        if kind == "not-ready":
            assert page.locator("#blockers li").count() > 0
            assert page.locator("#blockers").bounding_box()["y"] < VIEWPORT["height"]
        assert page.locator("#verdict .verdict").inner_text() == ("NOT READY" if kind == "not-ready" else "READY")
        assert all(url.startswith("file://") for url in requests), requests  # self-contained
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / f"report-{kind}.png"))
        if kind == "not-ready":
            page.screenshot(path=str(ARTEFACTS / "report.png"))
            page.pdf(path=str(ARTEFACTS / "report.pdf"), format="A4")  # the print stylesheet renders
            assert (ARTEFACTS / "report.pdf").stat().st_size > 0
    finally:
        page.close()
