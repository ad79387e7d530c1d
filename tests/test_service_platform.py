"""The live platform end to end on a manual clock: devices report, controllers trade, slots clear
at gate closure, settle on the embedded chain and deliver; a restart resumes from the journal."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mqtt_broker import MosquittoBroker
from serve_platform import make_platform, run_minutes

from gridledger.chain import open_ledger
from gridledger.errors import GridLedgerError
from gridledger.ledger.settlement import SlotStatus
from gridledger.market import Order, Side
from gridledger.operator.audit import verify_store
from gridledger.store import open_store


def test_slots_clear_settle_and_deliver_and_verify(tmp_path: Path) -> None:
    platform, clock = make_platform(tmp_path, telemetry_url=f"memory://{tmp_path.name}")
    try:
        run_minutes(platform, clock, 50)
        service = platform.regions["central"]
        settled = [s for s in service.recent if s.status in ("settled", "delivered")]
        assert settled, [s.__dict__ for s in service.recent]
        assert any(s.trades > 0 for s in settled)
        delivered = [s for s in service.recent if s.status == "delivered"]
        assert delivered
        market = service.operator.market
        for s in delivered:
            assert market.slot(s.slot_start_s).status == SlotStatus.DELIVERED
        # every slot whose gate closed was cleared exactly once
        starts = [s.slot_start_s for s in service.recent]
        assert len(starts) == len(set(starts))
        assert platform.queries.latest()  # readings went through ingest into the store
        metrics = platform.metrics.render().decode()
        assert 'gridledger_slots_settled_total{region="central"}' in metrics
    finally:
        platform.stop()
    with open_store(f"sqlite:///{tmp_path / 'gridledger.sqlite'}") as store:
        backend = open_ledger("embedded", tmp_path, 1337)
        try:
            report = verify_store(store, backend, tmp_path)
        finally:
            backend.close()
    assert report.mismatch is None, report.mismatch
    assert report.trades > 0


def test_restart_replays_accepted_orders_and_clears_each_slot_once(tmp_path: Path) -> None:
    url = f"memory://{tmp_path.name}"
    platform, clock = make_platform(tmp_path, households=5, telemetry_url=url)
    service = platform.regions["central"]
    run_minutes(platform, clock, 2)
    slot = service.open_slot()
    owner = platform.neighbourhoods["central"].sites[0].owner
    order = Order.create(
        owner,
        service.operator.domain,
        region="central",
        slot_start_s=slot.start_s,
        side=Side.BID,
        energy_wh=321,
        price_micro_per_kwh=290_000,
        nonce=service.next_nonce(owner.address_bytes),
    )
    order_id = service.submit(order)
    # a crash: nothing is closed, the next process opens the same data dir
    platform.close()
    again, _ = make_platform(tmp_path, households=5, clock=clock, telemetry_url=url)
    try:
        service2 = again.regions["central"]
        assert order_id in service2.orders
        assert order_id in {o.order_id for o in service2.market.book(slot).orders()}
        run_minutes(again, clock, 20)
        cleared = [s for s in service2.recent if s.slot_start_s == slot.start_s]
        assert len(cleared) == 1
        stored = {o.order_id for o in again.queries.orders("central", slot.start_s)}
        assert order_id in stored
        # the devices continued from their stored readings: ingest refused none of them
        assert again.queries.rejection_counts() == {}
        # the replayed order cannot be submitted a second time
        with pytest.raises(GridLedgerError, match=r"accepted already|closure|evicted"):
            service2.submit(order)
    finally:
        again.stop()


def test_two_regions_run_side_by_side(tmp_path: Path) -> None:
    platform, clock = make_platform(
        tmp_path, households=5, regions=("north", "south"), telemetry_url=f"memory://{tmp_path}"
    )
    try:
        run_minutes(platform, clock, 35)
        for name in ("north", "south"):
            service = platform.regions[name]
            assert any(s.status in ("settled", "delivered") for s in service.recent), name
            sites = {s.site_id for s in platform.queries.sites(name)}
            assert sites == {f"{name}-{i:04d}" for i in range(5)}
        north, south = platform.regions["north"], platform.regions["south"]
        assert north.operator.market.address != south.operator.market.address
        assert north.company is not None and south.company is not None
        assert north.company.address != south.company.address
        assert platform.queries.rejection_counts() == {}
    finally:
        platform.stop()


def test_the_same_code_on_postgresql_mqtt_and_an_rpc_node(
    tmp_path: Path, postgres_url: str, mosquitto: MosquittoBroker, anvil_url: str
) -> None:
    """The real engines behind the three URLs: PostgreSQL store, Mosquitto, anvil."""
    platform, clock = make_platform(
        tmp_path,
        households=5,
        store_url=postgres_url,
        telemetry_url=mosquitto.url,
        ledger_url=anvil_url,
    )
    try:
        for _ in range(35):
            run_minutes(platform, clock, 1)
            time.sleep(0.02)  # the broker delivers asynchronously
        service = platform.regions["central"]
        delivered = [s for s in service.recent if s.status == "delivered"]
        assert delivered, [s.__dict__ for s in service.recent]
        assert platform.queries.rejection_counts() == {}
    finally:
        platform.stop()
    with open_store(postgres_url) as store:
        backend = open_ledger(anvil_url, tmp_path, 1337)
        try:
            report = verify_store(store, backend, tmp_path)
        finally:
            backend.close()
    assert report.mismatch is None, report.mismatch
    assert report.delivered_slots >= 1
