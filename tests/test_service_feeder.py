"""The live feeder check (``serve --feeder-kva``): a transformer rated below the forecast evening
import makes the operator issue import-limit events through the VTN by itself, targeted at the
households it feeds, each slot covered once; the households' import is capped within one slot,
as the monitor stream's event bus shows. A generous rating issues nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serve_platform import BusReader, TestClient, bearer, login, make_platform, run_minutes

from gridledger.api.app import create_app
from gridledger.devices.models import Accumulator, BidirectionalCounter
from gridledger.operator.feeder import LIMIT_MARGIN
from gridledger.operator.openadr import IMPORT_CAPACITY_LIMIT
from gridledger.service.feeder import EVENT_NAME, FORECAST_SLOTS, LiveFeeder
from gridledger.service.platform import Platform

#: A winter evening: no PV, the five households import about 3 kW together.
EVENING = datetime(2026, 1, 15, 16, 50, tzinfo=UTC)
TIGHT_KVA = 2.0
GENEROUS_KVA = 50.0
V = "/openadr3/3.0.1"


def _live(tmp_path: Path, kva: float) -> Iterator[tuple[Any, Any, TestClient]]:
    platform, clock = make_platform(
        tmp_path, households=5, start=EVENING, telemetry_url=f"memory://{tmp_path.name}",
        feeder_kva=kva,
    )  # fmt: skip
    # the batteries ran down to their reserve over a grey day: without an event all import
    for site in platform.neighbourhoods["central"].sites:
        acc = site.find(Accumulator)
        assert isinstance(acc, Accumulator)
        acc.soc_permille = acc.reserve_soc_permille
    client = TestClient(create_app(platform))
    yield platform, clock, client
    client.close()
    platform.stop()


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[tuple[Any, Any, TestClient]]:
    yield from _live(tmp_path, TIGHT_KVA)


@pytest.fixture
def generous(tmp_path: Path) -> Iterator[tuple[Any, Any, TestClient]]:
    yield from _live(tmp_path, GENEROUS_KVA)


def _automatic(client: TestClient, platform: Platform) -> list[dict[str, Any]]:
    op = login(client, platform, platform.operator_key)
    got = client.get(f"{V}/events", params={"limit": 50}, headers=bearer(op))
    assert got.status_code == 200, got.text
    return [e for e in got.json() if e["eventName"] == EVENT_NAME]


def _feeder_events_total(platform: Platform) -> float:
    value = platform.metrics.registry.get_sample_value(
        "gridledger_feeder_events_total", {"region": "central"}
    )
    return 0.0 if value is None else value


def test_an_overloaded_transformer_gets_an_automatic_import_limit_within_one_slot(
    tight: tuple[Any, Any, TestClient],
) -> None:
    platform, clock, client = tight
    hood = platform.neighbourhoods["central"]
    names = [s.site_id for s in hood.sites]
    slot_s = platform.rules.clock.length_s
    first_ms = clock.now_ms()
    bus = BusReader(platform, lambda e: e.kind == "power")
    try:
        while clock.now() < EVENING + timedelta(minutes=41):
            run_minutes(platform, clock, 1)
            bus.drain()  # each minute: the subscriber's queue is bounded
        seen = bus.drain()
        assert bus.sub.dropped == 0
    finally:
        bus.close()
    events = _automatic(client, platform)
    assert events
    # the transformer feeds every household: its event targets them all, as the VEN names
    first = min(events, key=lambda e: e["intervalPeriod"]["start"])
    [target] = first["targets"]
    assert target["type"] == "VEN_NAME" and sorted(target["values"]) == names
    assert first["payloadDescriptors"][0]["payloadType"] == IMPORT_CAPACITY_LIMIT
    start = datetime.fromisoformat(first["intervalPeriod"]["start"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(first["createdDateTime"].replace("Z", "+00:00"))
    # issued at the first check, for the slot then open (the next one)
    assert created.timestamp() * 1000 <= first_ms + 60_000
    assert timedelta(0) < start - created <= timedelta(seconds=slot_s)
    # its limit holds the forecast within the transformer's rating (water-filled)
    limit_w = int(float(first["intervals"][0]["payloads"][0]["values"][0]) * 1000)
    _, load = hood.power_w(int(start.timestamp() * 1000) + slot_s * 500)
    assert load.sum() > TIGHT_KVA * 1000  # the forecast overloads it
    assert 0 < limit_w < load.max()
    assert np.minimum(load, limit_w).sum() <= TIGHT_KVA * 1000 * LIMIT_MARGIN
    # each slot is limited once: later checks only add the slots the forecast newly reaches
    starts = [
        datetime.fromisoformat(e["intervalPeriod"]["start"].replace("Z", "+00:00"))
        + timedelta(seconds=k * slot_s)
        for e in events
        for k in range(len(e["intervals"]))
    ]
    assert len(starts) == len(set(starts)) > len(first["intervals"])
    assert _feeder_events_total(platform) == len(events)
    # in the first slot of the event (within one slot of its issue) every household draws no
    # more than its limit: its battery, pre-charged in the minutes before, covers the rest
    start_ms = int(start.timestamp() * 1000)
    end_ms = start_ms + slot_s * 1000
    for site in hood.sites:
        bec = next(d for d in site.devices if isinstance(d, BidirectionalCounter)).device_id
        imports = [
            -int(e.data["power_w"])  # the BEC reports the flow out of the grid connection
            for e in seen
            if e.data["device_id"] == bec and start_ms < e.data["ts_ms"] <= end_ms
        ]
        assert imports and max(imports) <= limit_w, (site.site_id, imports)
        before = [
            -int(e.data["power_w"])
            for e in seen
            if e.data["device_id"] == bec and e.data["ts_ms"] <= start_ms
        ]
        assert max(before) > limit_w  # before the window it imported more (pre-charging)


def test_a_generous_rating_issues_no_event(generous: tuple[Any, Any, TestClient]) -> None:
    platform, clock, client = generous
    run_minutes(platform, clock, 20)
    assert _automatic(client, platform) == []
    assert _feeder_events_total(platform) == 0
    loading = platform.metrics.registry.get_sample_value(
        "gridledger_feeder_forecast_loading_ratio", {"region": "central"}
    )
    assert loading is not None and 0 < loading < 1


def test_a_slot_is_limited_once_also_after_a_restart(tight: tuple[Any, Any, TestClient]) -> None:
    platform = tight[0]
    slot_s = platform.rules.clock.length_s
    first = platform.regions["central"].open_slot().start_s
    feeder = platform.feeders["central"]
    issued = feeder.check(first, slot_s)
    assert [len(e.intervals) for e in issued] == [FORECAST_SLOTS]
    assert feeder.check(first, slot_s) == []  # once per slot
    # a restarted service's check reads the covered slots back from the VTN
    again = LiveFeeder(
        "central", platform.neighbourhoods["central"], platform.vtn, platform.metrics,
        platform.operator_key.address, TIGHT_KVA,
    )  # fmt: skip
    assert again.check(first, slot_s) == []
    [later] = again.check(first + slot_s, slot_s)  # the forecast reaches one slot further
    assert later.period.start.timestamp() == first + FORECAST_SLOTS * slot_s
    assert len(later.intervals) == 1
    assert _feeder_events_total(platform) == 2
