"""An injected PV outage becomes an open fault on the plant page of a running
``gridledger serve --speed`` (Debian's Chromium through Playwright), pushed by the live stream.

The server starts on a midsummer morning with ``--inject-outage`` on one household; its owner
opens the plant page before the fault exists and watches it appear without reloading. The launch
flags and the sign-in helper are those of ``tests/test_web_pages.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_web_pages import CHROMIUM, CHROMIUM_ARGS, _sign_in, running_serve

pytestmark = pytest.mark.browser

from playwright.sync_api import sync_playwright  # noqa: E402

SPEED = "240"  # a 15-minute slot every 3.75 s
START = "2026-06-21T10:00:00Z"
OUTAGE = "2026-06-21T10:20:00Z"  # after the page has loaded with no fault (about 5 s of wall time)
SITE = "central-0001"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("web-faults")
    options = ["--speed", SPEED, "--households", "5", "--start", START,
               "--inject-outage", f"{SITE}@{OUTAGE}"]  # fmt: skip
    with running_serve(data, *options) as url:
        yield url


def test_injected_outage_appears_as_an_open_fault_on_the_plant_page(base_url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            acc = _sign_in(browser, base_url, site=SITE)
            acc.goto(f"/app/sites/{SITE}/plant")
            page = acc.page
            page.wait_for_selector("#faults-open li")
            assert "outage" not in page.inner_text("#faults-open")
            page.evaluate("window.__samePage = true")
            # the fault event on the stream makes the page reload its faults: no navigation
            opened = page.locator("#faults-open li", has_text="outage")
            opened.wait_for(timeout=45_000)
            assert page.evaluate("window.__samePage === true")
            text = opened.inner_text()
            assert "outage" in text and "No open faults" not in page.inner_text("#faults-open")
            faults = acc.api(f"/sites/{SITE}/faults")["items"]
            outage = next(f for f in faults if f["kind"] == "outage")
            assert outage["closed_ms"] is None and outage["detail"] in text
            # a neighbour's plant page shows no outage: its PV kept producing
            other = _sign_in(browser, base_url, site="central-0000")
            other.goto("/app/sites/central-0000/plant")
            other.page.wait_for_selector("#faults-open li")
            assert "outage" not in other.page.inner_text("#faults-open")
            assert not acc.errors and not other.errors, acc.errors + other.errors
        finally:
            browser.close()
