"""An injected PV outage becomes an open fault on the plant page of a running
``gridledger serve --speed`` (Debian's Chromium through Playwright), pushed by the live stream;
the owner acknowledges it from the keyboard and sees its state change.

The server starts on a midsummer morning with ``--inject-outage`` on one household; its owner
opens the plant page before the fault exists and watches it appear without reloading. A closed
fault written into the server's store beforehand shows in the history. The page passes axe-core
and is screenshotted with the fault at phone and desktop widths (``plant-fault-*.png``). The
launch flags, the sign-in helper and the page check are those of ``tests/test_web_pages.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_web_pages import CHROMIUM, CHROMIUM_ARGS, SHOTS, _sign_in, check_page, running_serve

from gridledger.monitor import Fault, FaultKind, Severity, fault_row
from gridledger.store import open_store

pytestmark = pytest.mark.browser

from playwright.sync_api import sync_playwright  # noqa: E402

SPEED = "240"  # a 15-minute slot every 3.75 s
START = "2026-06-21T10:00:00Z"
OUTAGE = "2026-06-21T10:20:00Z"  # after the page has loaded with no fault (about 5 s of wall time)
SITE = "central-0001"


#: A fault of the site that closed before the server started: the plant page's history.
EARLIER = datetime(2026, 6, 20, 14, tzinfo=UTC)
CLOSED = Fault(
    SITE, f"{SITE}-bec", FaultKind.OFFLINE_DEVICE, Severity.MINOR, EARLIER, EARLIER, EARLIER,
    {"gap_min": 75.0}, "The grid meter sent nothing for over an hour.",
).close(datetime(2026, 6, 20, 15, 30, tzinfo=UTC))  # fmt: skip


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("web-faults")
    options = ["--speed", SPEED, "--households", "5", "--start", START,
               "--inject-outage", f"{SITE}@{OUTAGE}"]  # fmt: skip
    with running_serve(data, *options) as url:
        with open_store(f"sqlite:///{Path(data) / 'gridledger.sqlite'}") as store:
            store.save_faults([fault_row(CLOSED)])
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

            # the fault's evidence plot is drawn, the earlier fault is in the history
            plot = opened.locator("img.evidence")
            plot.wait_for()
            page.wait_for_function(
                "i => i.complete && i.naturalWidth > 0", arg=plot.element_handle()
            )
            assert "measured" in (plot.get_attribute("alt") or "")
            history = page.locator("#faults-closed tbody tr", has_text="offline device")
            history.wait_for()
            assert f"{SITE}-bec" in history.inner_text()
            # acknowledged from the keyboard: the state changes, the button goes
            button = opened.get_by_role("button", name="Acknowledge")
            button.press("Enter")  # focuses the button, then the key: no mouse
            acked = page.locator("#faults-open li", has_text="outage").locator(
                ".state.acknowledged"
            )
            acked.wait_for(timeout=10_000)
            assert "acknowledged" in acked.inner_text()
            # the keyboard stays on the same fault (its heading: the button is gone)
            page.wait_for_function(
                "() => (document.activeElement.closest('li')?.dataset.id || '')"
                ".includes(':outage:')",
                timeout=5_000,
            )
            listed = page.locator("#faults-open li", has_text="outage")
            assert listed.get_by_role("button", name="Acknowledge").count() == 0
            faults = acc.api(f"/sites/{SITE}/faults?state=acknowledged")["items"]
            assert [f["kind"] for f in faults] == ["outage"]
            assert faults[0]["acknowledged_ms"] is not None
            check_page(acc, "plant-fault")
            assert (SHOTS / "plant-fault-phone.png").is_file()
            assert (SHOTS / "plant-fault-desktop.png").is_file()
        finally:
            browser.close()
