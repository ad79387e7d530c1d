"""Demand response live: an import-limit event the operator posts through the VTN API changes the
simulated households' battery dispatch, grid import and orders within one slot, as the monitor
stream's event bus shows; an opted-out household is provably not curtailed (its devices do
exactly what an identical household without any event does); VENs report afterwards; alerts
reach the household."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serve_platform import BusReader, TestClient, bearer, login, make_platform, run_minutes

from gridledger.api.app import create_app
from gridledger.api.stream import event_filter
from gridledger.control.excess import MARGIN_WH
from gridledger.devices.models import Accumulator, BidirectionalCounter
from gridledger.market import Side
from gridledger.operator.openadr import (
    IntervalPeriod,
    excess_notice,
    limit_event,
    price_event,
    shed_event,
)
from gridledger.service.events import Event
from gridledger.service.neighbourhood import Neighbourhood
from gridledger.service.vens import FLEXIBLE_PERMILLE
from gridledger.service.vtn import default_program_id
from gridledger.telemetry import open_transport

#: A winter evening: no PV, households import.
EVENING = datetime(2026, 1, 15, 16, 50, tzinfo=UTC)
LIMIT_W = 200
V = "/openadr3/3.0.1"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Any, Any, TestClient]]:
    platform, clock = make_platform(
        tmp_path, households=5, start=EVENING, telemetry_url=f"memory://{tmp_path.name}"
    )
    client = TestClient(create_app(platform))
    yield platform, clock, client
    client.close()
    platform.stop()


def _power(events: list[Event], device_id: str, after_ms: int = 0) -> list[tuple[int, int]]:
    return [
        (int(e.data["ts_ms"]), int(e.data["power_w"]))
        for e in events
        if e.kind == "power" and e.data["device_id"] == device_id and e.data["ts_ms"] > after_ms
    ]


def test_an_import_limit_changes_dispatch_and_orders_within_one_slot_but_not_for_the_opted_out(
    live: tuple[Any, Any, TestClient],
) -> None:
    platform, clock, client = live
    hood: Neighbourhood = platform.neighbourhoods["central"]
    service = platform.regions["central"]
    run_minutes(platform, clock, 2)
    a, o = hood.sites[0], hood.sites[1]
    # both batteries ran down to their reserve over a grey day: without the event both import
    for site in (a, o):
        acc = site.find(Accumulator)
        assert isinstance(acc, Accumulator)
        acc.soc_permille = acc.reserve_soc_permille
    # the opted-out household's twin: the same household (same seed, same devices and state)
    # in a neighbourhood that knows no demand response, stepped at the same times
    twin = Neighbourhood(
        "central", 5, open_transport(f"memory://twin-{id(hood)}", "twin"), hood.domain,
        seed=platform.options.seed, reading_interval_s=platform.options.reading_interval_s,
    )  # fmt: skip
    twin.restore({}, {})
    twin._last_ms = hood._last_ms
    twin_acc = twin.sites[1].find(Accumulator)
    assert isinstance(twin_acc, Accumulator)
    twin_acc.soc_permille = twin_acc.reserve_soc_permille
    pairs = list(zip(o.devices, twin.sites[1].devices, strict=True))
    base = [(d._import_wms - t._import_wms, d._export_wms - t._export_wms) for d, t in pairs]
    o_token = login(client, platform, o.owner)
    opted = client.put(
        f"/api/v1/sites/{o.site_id}/demand-response/opt-out",
        json={"program_id": default_program_id("central"), "opted_out": True},
        headers=bearer(o_token),
    )
    assert opted.status_code == 200, opted.text
    assert opted.json()["programs"][0]["opted_out"] is True
    bus = BusReader(platform, lambda e: e.kind in ("power", "alert"))
    try:
        # the operator posts an import limit for the two slots after the current one
        posted_ms = clock.now_ms()
        current = service.rules.clock.slot_of(clock.now())
        window = IntervalPeriod(current.next().start, 2 * current.length_s)
        doc = limit_event("", default_program_id("central"), window, LIMIT_W).to_json()
        op = login(client, platform, platform.operator_key)
        posted = client.post(f"{V}/events", json=doc, headers=bearer(op))
        assert posted.status_code == 201, posted.text
        event_id = posted.json()["id"]
        start_ms = int(window.start.timestamp() * 1000)
        end_ms = int(window.end.timestamp() * 1000)
        for _ in range((end_ms - clock.now_ms()) // 60_000 + 3):
            run_minutes(platform, clock, 1)
            bus.drain()  # each minute: the subscriber's queue is bounded
            twin.step(clock.now_ms())
            # the opted-out household's devices match its twin's, step by step
            for (live_dev, twin_dev), (imp, exp) in zip(pairs, base, strict=True):
                assert live_dev.power_w == twin_dev.power_w, live_dev.device_id
                assert live_dev._import_wms - twin_dev._import_wms == imp, live_dev.device_id
                assert live_dev._export_wms - twin_dev._export_wms == exp, live_dev.device_id
        seen = bus.drain()
        assert bus.sub.dropped == 0
    finally:
        bus.close()
    a_bec = next(d for d in a.devices if isinstance(d, BidirectionalCounter)).device_id
    a_acc = next(d for d in a.devices if isinstance(d, Accumulator)).device_id
    o_bec = next(d for d in o.devices if isinstance(d, BidirectionalCounter)).device_id
    # the BEC reports the flow out of the grid connection: import is negative power
    a_import = [(t, -p) for t, p in _power(seen, a_bec, posted_ms)]
    o_import = [(t, -p) for t, p in _power(seen, o_bec, posted_ms)]
    in_window = [(t, p) for t, p in a_import if start_ms < t <= end_ms]
    assert in_window, a_import
    # within one slot of the posting the household's grid import is under the limit, its
    # battery discharging to cover the load
    first = min(t for t, _ in in_window)
    assert first - posted_ms <= current.length_s * 1000
    assert all(p <= LIMIT_W for _, p in in_window), in_window
    discharging = [p for t, p in _power(seen, a_acc, posted_ms) if start_ms < t <= end_ms]
    assert discharging and all(p > 0 for p in discharging), discharging
    # ... having pre-charged from the grid before the window
    before = [p for t, p in _power(seen, a_acc, posted_ms) if t <= start_ms]
    assert before and min(before) < 0, before
    # the opted-out household imported its whole load through the window, far over the limit
    o_window = [p for t, p in o_import if start_ms < t <= end_ms]
    assert o_window and min(o_window) > LIMIT_W, o_window
    # orders: A's bid in the second window slot (placed after the posting) is capped at the
    # limit's energy; O's is its whole deficit
    slot2 = current.next().next().start_s
    cap_wh = LIMIT_W * current.length_s // 3600

    def bid(owner: str) -> int:
        return sum(
            s.order.energy_wh
            for s in service.orders_of(owner)
            if s.order.slot_start_s == slot2 and s.order.side == Side.BID
        )

    assert bid(a.owner.address) <= cap_wh
    assert bid(o.owner.address) > cap_wh
    # after the window A's VEN reported its baseline and usage; O did not take part
    vtn = platform.vtn
    reports = [r for r in vtn.reports.values() if r.event_id == event_id]
    assert {r.client_name for r in reports} >= {a.site_id}
    assert o.site_id not in {r.client_name for r in reports}
    mine = next(r for r in reports if r.client_name == a.site_id)
    assert len(mine.usage_wh) == 2
    assert sum(mine.usage_wh) < sum(mine.baseline_wh)
    assert sum(mine.usage_wh) <= 2 * cap_wh
    # the event alert went to A (not to the opted-out O)
    alerts = [e for e in seen if e.kind == "alert" and e.data["alert"] == "event"]
    assert a.site_id in {e.site for e in alerts}
    assert o.site_id not in {e.site for e in alerts}
    view = client.get(f"/api/v1/sites/{a.site_id}/demand-response", headers=bearer(op)).json()
    [ev] = [e for e in view["events"] if e["event_id"] == event_id]
    assert ev["takes_part"] and ev["status"] == "ended"
    assert ev["usage_wh"] == sum(mine.usage_wh) and ev["baseline_wh"] == sum(mine.baseline_wh)


def test_a_price_event_changes_the_bid_prices(live: tuple[Any, Any, TestClient]) -> None:
    platform, clock, client = live
    service = platform.regions["central"]
    run_minutes(platform, clock, 2)
    for site in platform.neighbourhoods["central"].sites:  # empty batteries: the homes buy
        acc = site.find(Accumulator)
        assert isinstance(acc, Accumulator)
        acc.soc_permille = acc.reserve_soc_permille
    vens = platform.vens["central"]
    slot = service.open_slot().next()
    retail = service.market.rules_for(slot).tariff.retail_price_micro_per_kwh
    before = vens.slot_response(slot.start_s, slot.length_s, retail)
    assert (before.retail_micro_per_kwh == retail).all()
    op = login(client, platform, platform.operator_key)
    prices = [retail * 2]
    doc = price_event("", default_program_id("central"), slot.start, slot.length_s, prices)
    assert client.post(f"{V}/events", json=doc.to_json(), headers=bearer(op)).status_code == 201
    after = vens.slot_response(slot.start_s, slot.length_s, retail)
    assert (after.retail_micro_per_kwh == retail * 2).all()
    # the orders placed for that slot are priced from the event's price
    run_minutes(platform, clock, 16)
    bids = [
        s.order.price_micro_per_kwh
        for s in service.orders.values()
        if s.order.slot_start_s == slot.start_s and s.order.side == Side.BID
        and s.order.owner in {x.owner.address for x in platform.neighbourhoods["central"].sites}
    ]  # fmt: skip
    assert bids and max(bids) > retail
    assert np.all(np.array(bids) <= retail * 2)


def test_excess_consumption_and_notices_alert_the_household_only(
    live: tuple[Any, Any, TestClient],
) -> None:
    platform, clock, client = live
    hood = platform.neighbourhoods["central"]
    vens = platform.vens["central"]
    run_minutes(platform, clock, 2)
    while clock.now_ms() // 1000 % 900:  # to the start of a slot
        run_minutes(platform, clock, 1)
    slot_s = 900
    slot = clock.now_ms() // 1000 // slot_s
    _, load_w = hood.power_w(clock.now_ms() + slot_s * 500)
    slot_wh = load_w * slot_s // 3600
    # the household's own usual for this time of day, from earlier days: household 0 is usually
    # away (nothing on), the others use twice as much as now
    usual = slot_wh * 2
    usual[0] = 0
    assert slot_wh[0] > MARGIN_WH  # so its slot now is an excess over its usual
    vens.history[slot % (86_400 // slot_s)] = deque([usual.copy() for _ in range(3)], maxlen=7)
    bus = BusReader(platform, lambda e: e.kind in ("power", "alert"))
    try:
        run_minutes(platform, clock, 16)
        seen = bus.drain()
    finally:
        bus.close()
    excess = [e for e in seen if e.kind == "alert" and e.data["alert"] == "excess"]
    assert [e.site for e in excess] == [hood.sites[0].site_id]
    assert excess[0].data["usual_wh"] == int(usual[0])
    assert excess[0].data["used_wh"] > MARGIN_WH
    # an operator's notice reaches the household it names, as an alert
    op = login(client, platform, platform.operator_key)
    window = IntervalPeriod(clock.now(), 900)
    text = "your consumption is well above usual"
    notice = excess_notice("", default_program_id("central"), window, hood.sites[3].site_id, text)
    assert client.post(f"{V}/events", json=notice.to_json(), headers=bearer(op)).status_code == 201
    assert vens.alerts[hood.sites[3].site_id][-1]["text"] == text
    assert all(a["alert"] != "notice" for a in vens.alerts[hood.sites[4].site_id])
    # the stream shows a household's alerts to it alone (not even to its region's operator)
    alert = excess[0]
    owner = platform.principal_of(hood.sites[0].owner.address)
    other = platform.principal_of(hood.sites[1].owner.address)
    operator = platform.principal_of(platform.operator_key.address)
    assert event_filter(owner, {"alert"})(alert)
    assert not event_filter(other, {"alert"})(alert)
    assert not event_filter(operator, {"alert"})(alert)


def test_a_load_shed_curtails_with_a_limit_of_zero_and_level_zero_does_nothing(
    live: tuple[Any, Any, TestClient],
) -> None:
    platform, clock, client = live
    hood = platform.neighbourhoods["central"]
    vens = platform.vens["central"]
    op = login(client, platform, platform.operator_key)
    window = IntervalPeriod(clock.now(), 1800)
    names = [s.site_id for s in hood.sites]
    for level, target in ((1, names[2]), (0, names[3])):
        doc = shed_event("", default_program_id("central"), window, level, [target]).to_json()
        assert client.post(f"{V}/events", json=doc, headers=bearer(op)).status_code == 201
    t_ms = clock.now_ms() + 60_000
    win = vens._windows(t_ms)
    assert win.curtailed.tolist() == [i == 2 for i in range(len(names))]
    assert win.limit_w[2] == 0
    # in the window household 2 shifts its flexible share and its battery covers the rest
    pv, load = hood.power_w(t_ms)
    run_load, setpoints = vens.adjust(t_ms + 1, 60_000, pv, load)
    assert run_load[2] == load[2] - load[2] * FLEXIBLE_PERMILLE // 1000
    assert setpoints[2] == -(int(run_load[2]) - int(pv[2]))  # all of the net load
    assert run_load[3] == load[3] and setpoints[3] is None  # level 0: nothing
