"""Live fault detection: an outage injected into the simulated neighbourhood becomes an open fault
within 2 daylight hours, reaches its owner on the stream (and not another household), and is
listed by the plant faults API for the owner only; once the PV produces again it closes. Faults
live in the store: after a restart the open (and acknowledged) ones are still open and the
monitor extends and closes them, a closed one stays closed; only the owner acknowledges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from serve_platform import MORNING, TestClient, bearer, login, make_platform, run_minutes

from gridledger.api.app import create_app
from gridledger.api.stream import event_filter
from gridledger.errors import StoreError
from gridledger.monitor import Fault, FaultKind, FaultMonitor, Severity, fault_from_row
from gridledger.service.access import NotFoundError
from gridledger.service.events import Event, EventBus, Subscription
from gridledger.service.plant_faults import PlantFaults, _Region, fault_id
from gridledger.service.platform import Platform
from gridledger.store import Store, open_store, to_ms

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


RESTART_OPEN = "central-0001"  # its outage stays open across the restart
RESTART_CLOSED = "central-0004"  # its outage closes before the restart


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_faults_persist_across_a_restart_and_the_owner_acknowledges(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = f"memory://{tmp_path.name}"
    # PostgreSQL: a real server (tests/servers.py), a fresh database the restart opens again
    store_url = "" if backend == "sqlite" else str(request.getfixturevalue("postgres_url"))
    platform, clock = make_platform(tmp_path, households=6, telemetry_url=url, store_url=store_url)
    outage_ms = to_ms(MORNING) + 10 * 60_000

    def outage_of(p: Platform, site: str) -> list[Fault]:
        assert p.faults is not None
        return [f for f in p.faults.faults_of(site) if str(f.kind) == "outage"]

    def run_until(p: Platform, done: Callable[[], bool], minutes: int) -> bool:
        for _ in range(minutes):
            if done():
                return True
            run_minutes(p, clock, 1)
        return done()

    try:
        hood = platform.neighbourhoods["central"]
        for site in (RESTART_OPEN, RESTART_CLOSED):
            hood.inject_outage(site, outage_ms)
        opened = run_until(
            platform,
            lambda: all(outage_of(platform, s) for s in (RESTART_OPEN, RESTART_CLOSED)),
            130,
        )
        assert opened, platform.faults and platform.faults.faults_of(RESTART_OPEN)
        del hood.outages[int(RESTART_CLOSED.rsplit("-", 1)[1])]
        closed = run_until(
            platform, lambda: outage_of(platform, RESTART_CLOSED)[0].status.value == "closed", 90
        )
        assert closed, outage_of(platform, RESTART_CLOSED)

        # the owner acknowledges the open one through the API; nobody else can
        client = TestClient(create_app(platform))
        owner = hood.owners[RESTART_OPEN]
        own = login(client, platform, owner)
        other = login(client, platform, hood.owners[OTHER_SITE])
        operator = login(client, platform, platform.operator_key)
        client.cookies.clear()
        (open_fault,) = outage_of(platform, RESTART_OPEN)
        loop = asyncio.new_event_loop()

        async def subscribe(signer: Any) -> Subscription:
            principal = platform.principal_of(signer.address)
            return platform.bus.subscribe(event_filter(principal, {"fault"}))

        owners_stream = loop.run_until_complete(subscribe(owner))
        others_stream = loop.run_until_complete(subscribe(hood.owners[OTHER_SITE]))
        base = f"/api/v1/sites/{RESTART_OPEN}/faults"
        ack = f"{base}/{fault_id(open_fault)}/acknowledge"
        for token in (other, operator):
            refused = client.post(ack, headers=bearer(token))
            assert refused.status_code == 404, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert client.post(ack).status_code == 401
        done = client.post(ack, headers=bearer(own))
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["status"] == "acknowledged" and body["acknowledged_by"] == owner.address
        assert body["acknowledged_ms"] == clock.now_ms()
        again = client.post(ack, headers=bearer(own))  # idempotent: the first one stays
        assert again.status_code == 200 and again.json() == body
        loop.run_until_complete(asyncio.sleep(0))  # the bus delivers on this loop
        heard = []
        while not owners_stream.queue.empty():
            heard.append(owners_stream.queue.get_nowait().data)
        assert [(e["change"], e["id"]) for e in heard] == [("acknowledged", fault_id(open_fault))]
        assert heard[0]["acknowledged_by"] == owner.address
        assert others_stream.queue.empty()  # another household hears nothing of it
        loop.close()
        wrong = client.post(f"{base}/nope:outage:1/acknowledge", headers=bearer(own))
        assert wrong.status_code == 404 and "has no fault" in wrong.json()["detail"]
        (closed_fault,) = outage_of(platform, RESTART_CLOSED)
        shut = client.post(
            f"/api/v1/sites/{RESTART_CLOSED}/faults/{fault_id(closed_fault)}/acknowledge",
            headers=bearer(login(client, platform, hood.owners[RESTART_CLOSED])),
        )
        assert shut.status_code == 409 and "closed" in shut.json()["detail"], shut.text
        listed = client.get(f"{base}?state=acknowledged", headers=bearer(own)).json()["items"]
        assert [f["id"] for f in listed] == [fault_id(open_fault)]
        assert client.get(f"{base}?state=closed", headers=bearer(own)).json()["items"] == []
        client.close()
        before = {s: outage_of(platform, s) for s in (RESTART_OPEN, RESTART_CLOSED)}
    finally:
        platform.close()  # a crash: nothing stops in order

    again_platform, _ = make_platform(
        tmp_path, households=6, clock=clock, telemetry_url=url, store_url=store_url
    )
    try:
        assert {s: outage_of(again_platform, s) for s in before} == before
        hood = again_platform.neighbourhoods["central"]
        hood.inject_outage(RESTART_OPEN, outage_ms)  # the inverter is still off
        published: list[dict[str, Any]] = []
        assert again_platform.faults is not None
        publish = again_platform.faults._publish

        def recording(region: str, fault: Fault, change: str) -> None:
            published.append({"change": change, "site": fault.site})
            publish(region, fault, change)

        again_platform.faults._publish = recording  # type: ignore[method-assign]
        run_minutes(again_platform, clock, 60)
        (still,) = outage_of(again_platform, RESTART_OPEN)
        assert still.status.value == "acknowledged" and still.first_seen == open_fault.first_seen
        assert still.last_seen > before[RESTART_OPEN][0].last_seen  # the monitor resumed it
        assert outage_of(again_platform, RESTART_CLOSED) == before[RESTART_CLOSED]
        assert published == []  # the same fault, not a second one
        rows = again_platform.store.list_faults(RESTART_OPEN) if again_platform.store else []
        assert len([r for r in rows if r["kind"] == "outage"]) == 1
        # the inverter is back: the acknowledged fault closes, its acknowledgement kept
        hood.outages.clear()
        assert run_until(
            again_platform,
            lambda: outage_of(again_platform, RESTART_OPEN)[0].closed_at is not None,
            90,
        )
        (gone,) = outage_of(again_platform, RESTART_OPEN)
        assert gone.status.value == "closed" and gone.acknowledged_by == owner.address
        assert {"change": "closed", "site": RESTART_OPEN} in published
    finally:
        again_platform.stop()


class _FlakyStore:
    """A store whose fault writes fail while ``down`` (a PostgreSQL restart, say)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = True

    def save_faults(self, rows: Iterable[Mapping[str, Any]]) -> int:
        if self.down:
            raise StoreError("cannot reach the database")
        return self.store.save_faults(rows)


def test_faults_the_store_could_not_take_are_written_next_slot(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    flaky = _FlakyStore(store)
    plant = PlantFaults(
        cast(Store, flaky), EventBus(), slot_s=900, grace_s=120, latitude=48.1, longitude=11.6
    )
    state = _Region(monitor=cast(FaultMonitor, None), next_ms=0)
    t = MORNING
    fault = Fault(OUTAGE_SITE, f"{OUTAGE_SITE}-pv", FaultKind.OUTAGE, Severity.MAJOR, t, t, t)
    later = fault.seen_again(t + timedelta(minutes=30), Severity.MAJOR, {"measured_w": 0.0})
    plant._save(state, [fault])  # the store is down: kept, no error for the region loop
    plant._save(state, [later])
    assert store.list_faults() == [] and list(state.unsaved.values()) == [later]
    flaky.down = False
    plant._save(state, [])  # the next slot: what waited is written
    assert [fault_from_row(r) for r in store.list_faults()] == [later]
    assert state.unsaved == {}
    store.close()


def test_a_stored_fault_is_acknowledged_where_no_region_is_watched(tmp_path: Path) -> None:
    """Without live detection (no simulated households), the store's faults still list and
    take the owner's acknowledgement."""
    from gridledger.monitor import fault_row
    from gridledger.service import household_faults

    platform, clock = make_platform(tmp_path, households=6, telemetry_url="memory://unwatched")
    try:
        platform.faults = None
        hood = platform.neighbourhoods["central"]
        owner = platform.principal_of(hood.owners[OUTAGE_SITE].address)
        other = platform.principal_of(hood.owners[OTHER_SITE].address)
        t = clock.now()
        fault = Fault(OUTAGE_SITE, f"{OUTAGE_SITE}-pv", FaultKind.OUTAGE, Severity.MAJOR, t, t, t)
        assert platform.store is not None
        platform.store.save_faults([fault_row(fault)])
        with pytest.raises(NotFoundError):
            household_faults.acknowledge(platform, other, OUTAGE_SITE, fault_id(fault))
        acked = household_faults.acknowledge(platform, owner, OUTAGE_SITE, fault_id(fault))
        assert acked.status.value == "acknowledged" and acked.acknowledged_by == owner.address
        assert household_faults.faults_of(platform, owner, OUTAGE_SITE) == [acked]
        with pytest.raises(NotFoundError, match="has no fault"):
            household_faults.acknowledge(platform, owner, OUTAGE_SITE, "x:outage:0")
    finally:
        platform.stop()
