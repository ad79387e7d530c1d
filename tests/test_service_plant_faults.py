"""Live fault detection: an outage injected into the simulated neighbourhood becomes an open fault
within 2 daylight hours, reaches its owner on the stream (and not another household), and is
listed by the plant faults API for the owner only; once the PV produces again it closes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from serve_platform import MORNING, TestClient, bearer, login, make_platform

from gridledger.api.app import create_app
from gridledger.api.stream import event_filter
from gridledger.service.events import Event, Subscription
from gridledger.store import to_ms

OUTAGE_SITE = "central-0002"
OTHER_SITE = "central-0003"


def test_injected_outage_opens_a_fault_for_its_owner_only(tmp_path: Path) -> None:
    platform, clock = make_platform(tmp_path, households=6, telemetry_url="memory://faults")
    try:
        hood = platform.neighbourhoods["central"]
        outage_ms = to_ms(MORNING) + 10 * 60_000  # 10:00 UTC on midsummer day: full daylight
        hood.inject_outage(OUTAGE_SITE, outage_ms)
        owner = platform.principal_of(hood.owners[OUTAGE_SITE].address)
        other = platform.principal_of(hood.owners[OTHER_SITE].address)

        loop = asyncio.new_event_loop()

        async def subscribe() -> tuple[Subscription, Subscription]:
            return (
                platform.bus.subscribe(event_filter(owner, {"fault"})),
                platform.bus.subscribe(event_filter(other, {"fault"})),
            )

        mine, theirs = loop.run_until_complete(subscribe())
        got_mine: list[Event] = []
        got_theirs: list[Event] = []

        def run_until(change: str, minutes: int) -> int | None:
            """Step minute by minute until the owner's stream carries an outage ``change``;
            return the clock then [ms] (``None`` if it did not come within ``minutes``)."""
            for _ in range(minutes):
                clock.advance(60)
                platform.run_once()
                while platform.ingest_pending(0.0):
                    pass
                loop.run_until_complete(asyncio.sleep(0))  # the bus delivers on this loop
                while not mine.queue.empty():
                    got_mine.append(mine.queue.get_nowait())
                while not theirs.queue.empty():
                    got_theirs.append(theirs.queue.get_nowait())
                if any(e.data["kind"] == "outage" and e.data["change"] == change for e in got_mine):
                    return clock.now_ms()
            return None

        opened_at = run_until("opened", 10 + 120)  # the outage starts, then 2 daylight hours
        assert opened_at is not None, [e.data for e in got_mine]
        print(f"\noutage open {(opened_at - outage_ms) / 60_000:.0f} min after it began")
        assert opened_at - outage_ms <= 2 * 3_600_000
        outage = next(e for e in got_mine if e.data["kind"] == "outage")
        assert outage.site == OUTAGE_SITE and outage.data["site_id"] == OUTAGE_SITE
        assert outage.data["device"].startswith(OUTAGE_SITE)
        assert outage.data["status"] == "open"
        assert outage.data["evidence"]["measured_w"] <= 0.01 * hood.peak_w[2]
        # the other household's stream carries no fault of the outage site
        assert all(e.site != OUTAGE_SITE for e in got_theirs)
        # no other site got an outage: the neighbours kept producing
        assert platform.faults is not None
        for site in hood.sites:
            kinds = {str(f.kind) for f in platform.faults.faults_of(site.site_id)}
            assert ("outage" in kinds) == (site.site_id == OUTAGE_SITE), (site.site_id, kinds)

        client = TestClient(create_app(platform))
        own = login(client, platform, hood.owners[OUTAGE_SITE])
        foreign = login(client, platform, hood.owners[OTHER_SITE])
        client.cookies.clear()
        url = f"/api/v1/sites/{OUTAGE_SITE}/faults"

        def listed_outages() -> list[dict[str, Any]]:
            page: dict[str, Any] = client.get(url, headers=bearer(own)).json()
            return [f for f in page["items"] if f["kind"] == "outage"]

        listed = listed_outages()
        assert len(listed) == 1 and listed[0]["closed_ms"] is None
        assert listed[0]["status"] == "open" and "measured_w" in listed[0]["evidence"]
        assert listed[0]["detail"] == outage.data["explanation"]
        refused = client.get(url, headers=bearer(foreign))
        assert refused.status_code in (403, 404), refused.text

        # the inverter is back: the fault closes, on the stream and in the list
        hood.outages.clear()
        closed_at = run_until("closed", 90)
        assert closed_at is not None, [e.data for e in got_mine]
        listed = listed_outages()
        assert len(listed) == 1 and listed[0]["status"] == "closed"
        assert listed[0]["closed_ms"] is not None and listed[0]["closed_ms"] <= closed_at
        assert all(e.site != OUTAGE_SITE for e in got_theirs)
        client.close()
        loop.close()
    finally:
        platform.stop()
