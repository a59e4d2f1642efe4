"""report.html in headless Chromium: the decision is visible without scrolling, the blockers read as
root causes, links land, and the failures-only view works from a file, with no server and no script.

Uses Debian's chromium (installed by .ci/run), never Playwright's own browser download. Screenshots
(and a PDF through the print stylesheet) are kept as test artefacts in reports/test-artefacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

from test_report import RUN_ID, record_full_run, record_ready_run  # noqa: E402
from test_report_html import INSTALL, REMOVAL, record_judged_run  # noqa: E402

from harness.report import render_reports  # noqa: E402

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


@pytest.fixture
def opened(browser, tmp_path: Path):
    """Opens a report in a fresh page; asserts afterwards that it loaded nothing but itself."""
    pages = []

    def open_(record) -> object:
        html = render_reports(record(tmp_path / RUN_ID))["html"]
        page = browser.new_page(viewport=VIEWPORT)
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(html.resolve().as_uri(), wait_until="load", timeout=30_000)
        pages.append((page, requests))
        return page

    yield open_
    for page, requests in pages:
        assert all(url.startswith("file://") for url in requests), requests  # self-contained
        page.close()


def _within_viewport(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not rendered"
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= VIEWPORT["width"], (selector, box)
    assert box["y"] + box["height"] <= VIEWPORT["height"], (selector, box)


def _shot(page, name: str, *, full_page: bool = False) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / name), full_page=full_page)


@pytest.mark.parametrize("kind", ["not-ready", "ready"])
def test_verdict_and_interface_table_are_visible_without_scrolling(opened, kind: str) -> None:
    page = opened(record_full_run if kind == "not-ready" else record_ready_run)
    _within_viewport(page, "#verdict")
    _within_viewport(page, "#interface-table")
    if kind == "not-ready":
        assert page.locator("#blockers li").count() > 0
        assert page.locator("#blockers").bounding_box()["y"] < VIEWPORT["height"]
    assert page.locator("#verdict .verdict").inner_text() == ("NOT READY" if kind == "not-ready" else "READY")
    _shot(page, f"report-{kind}.png")


def test_header_names_provenance_and_blockers_read_as_root_causes(opened) -> None:
    page = opened(record_judged_run)
    for selector in ("#verdict", "#grade", "#dip", "#environment", "#attestation", "#signer", "#manifest",
                     "#interface-table"):
        _within_viewport(page, selector)
    assert "simulated by dipcert on the participant's machine" in page.locator("#dip").inner_text()
    assert "not Elexon's UIT" in page.locator("#environment").inner_text()
    assert "Ada Tester, Test lead" in page.locator("#attestation").inner_text()
    assert "SELF-TEST" in page.locator("#grade").inner_text()
    causes = page.locator("#blockers li.cause")
    assert [causes.nth(i).get_attribute("data-rule") for i in range(causes.count())] == \
        ["consume.recipient-rejection", "periods.count", "not-run"]
    first = causes.nth(0)
    assert "2 findings in 2 requirements" in first.inner_text()
    assert "an MPAN core with a wrong check digit was accepted" in first.inner_text()
    assert "provisional" in causes.nth(1).inner_text()  # set apart: rests on an assumption
    _within_viewport(page, "#blockers li.cause:first-child")
    _shot(page, "report.png")
    # a requirement named in a cause is one click away, open; its message at fault starts closed, the
    # same root cause having been shown in full above it; the finding's link opens it on the marked line
    first.locator(f'a[href$="{REMOVAL.replace("/", "_").replace(".", "_")}"]').click()
    section = page.locator(f'[data-requirement="{REMOVAL}"]')
    assert section.locator("details").first.get_attribute("open") is not None
    assert section.locator("details.msg.j-fail").get_attribute("open") is None
    assert page.locator(f'[data-requirement="{INSTALL}"] details.msg.j-fail pre.body mark').first.is_visible()
    section.locator("table.findings a").first.click()
    target = page.evaluate("location.hash")[1:]
    assert page.locator(f'[id="{target}"]').evaluate("e => e.tagName") == "MARK"
    assert page.locator(f'[id="{target}"]').is_visible()
    # the message a blocker names, from the diagram: #NN links to the message
    section.locator("svg.seq a").last.click()
    assert page.evaluate("location.hash").startswith("#m-")


def test_failures_only_shows_what_failed_without_a_server_and_prints(opened) -> None:
    page = opened(record_full_run)
    sections = page.locator("section.req")
    total = sections.count()
    failing = page.locator("section.req.fail, section.req.not-run").count()
    assert 0 < failing < total
    assert sum(1 for i in range(total) if sections.nth(i).is_visible()) == total
    passing = page.locator('[data-requirement="MDR-5.2a/IF-061/consume"]')
    assert passing.locator("details").first.get_attribute("open") is None  # collapsed
    page.locator("label.toggle").click()
    assert page.locator("#failures-only").is_checked()
    visible = [sections.nth(i).get_attribute("data-verdict") for i in range(total) if sections.nth(i).is_visible()]
    assert len(visible) == failing and set(visible) <= {"fail", "not-run"}
    assert not passing.is_visible()
    _shot(page, "report-failures-only.png", full_page=True)
    page.pdf(path=str(ARTEFACTS / "report.pdf"), format="A4")  # the print stylesheet renders the view shown
    assert (ARTEFACTS / "report.pdf").stat().st_size > 0
    page.locator("label.toggle").click()
    assert passing.is_visible()


def test_a_correct_rejection_is_green_and_the_offending_201_red(opened) -> None:
    page = opened(record_judged_run)
    lines = page.locator(f'[data-requirement="{INSTALL}"] svg.seq line[class^="j-"]')
    colours = [lines.nth(i).evaluate("e => getComputedStyle(e).stroke") for i in range(lines.count())]
    labels = page.locator(f'[data-requirement="{INSTALL}"] svg.seq text.msg-label')
    statuses = [labels.nth(i).text_content().rsplit("→ ", 1)[1] for i in range(labels.count())]
    assert statuses == ["201", "401", "201"]
    assert colours[0] == colours[1] == "rgb(23, 111, 44)"  # judged correct, whatever the status
    assert colours[2] == "rgb(179, 38, 30)"  # accepted what it had to reject
