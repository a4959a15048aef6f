"""The HTML report in headless Chromium: nothing logged, nothing requested, the chart drawn.

The test drives Debian's /usr/bin/chromium with Playwright. It is skipped on a
developer machine without that browser. In CI (CI set), where .ci/run installs
the browser, it fails instead, unless .ci/run reports in REMEDIATE_NO_BROWSER
that the install failed. The browser gets no network of its own: a proxy on a
closed loopback port and a resolver that finds no host. The screenshots are
kept in test-artifacts/ at the repository root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from remediate.report.render import write_reports
from tests.helpers import FixedClock
from tests.report.incident_journal import REPORTED, write_incident

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
# Scripts an escaping bug would let run: any of them would log or request something.
HOSTILE = "<script>console.error('injected')</script><img src=https://attacker.example/p.png>"


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if reason := os.environ.get("REMEDIATE_NO_BROWSER"):
            pytest.skip(f"{CHROMIUM} is missing: {reason}")
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must run this test (.ci/run installs it)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run this test")
    with sync_playwright() as playwright:
        # Playwright starts the browser headless with a new, empty profile of its own.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def test_html_report_in_chromium(tmp_path: Path, browser: Browser) -> None:
    write_incident(tmp_path, HOSTILE)
    [report] = write_reports(tmp_path, ("html",), clock=FixedClock(REPORTED))
    ARTIFACTS.mkdir(exist_ok=True)
    page_shot = ARTIFACTS / "report-html.png"
    chart_shot = ARTIFACTS / "report-html-chart.png"

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    console: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    page.screenshot(path=str(page_shot), full_page=True)
    chart = page.locator("#sending-chart")
    chart.screenshot(path=str(chart_shot))

    seen = f"see {page_shot} and {chart_shot}"
    assert console == [], seen
    assert requests == [report.as_uri()], seen
    assert chart.is_visible(), seen
    box = chart.bounding_box()
    assert box is not None, seen
    assert (box["width"], box["height"]) == (960, 202), seen
    volume = page.locator("#sending-chart path.volume").first.bounding_box()
    assert volume is not None, seen
    assert volume["height"] > 40, seen
    window = page.locator("#sending-chart rect.abuse").bounding_box()
    assert window is not None, seen
    # 4 by 60 in the SVG, and half of the 1-pixel stroke on each side.
    assert (window["width"], window["height"]) == (5, 61), seen
    assert box["x"] <= window["x"] <= box["x"] + box["width"], seen
