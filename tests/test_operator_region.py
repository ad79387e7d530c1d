"""The region operator's pipeline: a simulated city settled end to end, on every ledger backend
and every store backend; re-opening a region; delivery with the readings root.

The helpers here (:func:`settle_city`, :func:`deliver_slot`, :func:`flip_byte`) are shared with
``test_ledger_audit.py``.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gridledger.chain.backend import LedgerBackend
from gridledger.devices.messages import DeviceKind
from gridledger.devices.messages import Reading as DeviceReading
from gridledger.errors import ConfigError, LedgerError
from gridledger.identity import Domain, Signer, address_bytes, keccak
from gridledger.ledger import Delivery, SlotStatus, merkle
from gridledger.ledger.deploy import Tariffs
from gridledger.market import RuleSet
from gridledger.operator.audit import verify_store
from gridledger.operator.delivery import delivery_positions
from gridledger.operator.deployment import DeploymentRecord, deployment_path, load_deployments
from gridledger.operator.region import (
    DEFAULT_DEPOSIT_MICRO,
    RegionOperator,
    demo_keys,
    market_tariffs,
)
from gridledger.sim import SimulationReport, example_city, example_company, simulate_city
from gridledger.sim.settler import OPERATOR_DEPOSIT_MICRO, CitySettler
from gridledger.store import Device, ReadingRow, Site, Store

START = datetime(2026, 6, 21, 10, tzinfo=UTC)


def data_dir_operator(data_dir: Path) -> Signer:
    """The operator key :func:`settle_city` uses for ``data_dir`` (public: tests only)."""
    return Signer(keccak(b"test operator " + str(data_dir).encode()))


def settle_city(
    backend: LedgerBackend,
    store: Store,
    data_dir: Path,
    *,
    households: int = 4,
    hours: int = 2,
    seed: int = 7,
    sign_for_market: bool = True,
    meter: bool = False,
) -> tuple[CitySettler, SimulationReport]:
    """Simulate the example city and settle every cleared slot on ``backend`` into ``store``.

    ``sign_for_market=False`` has the households sign for the chain only, not the market contract;
    ``meter=True`` also meters every household and settles every slot's delivery.
    """
    rules = RuleSet()
    admin, _ = demo_keys()
    # one operator per data dir: tests share one anvil chain, and a data dir without a deployment
    # record finds its region on the chain by region name and operator
    operator = data_dir_operator(data_dir)
    settler = CitySettler(
        backend, store, data_dir, admin=admin, operator=operator,
        tariffs=market_tariffs(rules.tariff), slot_seconds=rules.slot_minutes * 60, meter=meter,
    )  # fmt: skip
    report = simulate_city(
        example_city(seed, households), START, hours, rules, backend.chain_id, seed,
        on_cleared=settler.on_cleared,
        market_address=settler.market_address if sign_for_market else None,
        on_metered=settler.on_metered,
    )  # fmt: skip
    return settler, report


def store_slot_readings(op: RegionOperator, slot: int) -> tuple[list[ReadingRow], list[Delivery]]:
    """Store signed BEC readings of the slot's traders; return them and the expected positions."""
    store = op.store
    domain = Domain(op.backend.chain_id)
    positions: dict[bytes, list[int]] = defaultdict(lambda: [0, 0])
    for t in store.list_trades(op.region, slot):
        positions[address_bytes(t.buyer)][0] += t.energy_wh
        positions[address_bytes(t.seller)][1] += t.energy_wh
    readings = []
    for n, (account, (bought, sold)) in enumerate(sorted(positions.items())):
        site_id = f"{op.region}-site-{account.hex()[:8]}"
        key = Signer(keccak(b"meter" + account))
        store.add_site(Site(site_id, op.region, account))
        store.add_device(Device(f"{site_id}-bec", site_id, "bec", key.address_bytes))
        for seq, (imp, exp) in enumerate(((0, 0), (bought + n, sold)), start=1):
            ts = slot * 1000 + seq * 60_000
            content = DeviceReading(
                op.region, key.address_bytes, seq, ts, DeviceKind.BEC, imp, exp, exp - imp
            )
            wire = content.sign(key, domain)
            body, sig = wire[:-65], wire[-65:]
            readings.append(ReadingRow(f"{site_id}-bec", seq, ts, imp, exp, exp - imp, body, sig))
    store.insert_readings(readings)
    entries = [
        Delivery(account, bought, sold, bought + n, sold)
        for n, (account, (bought, sold)) in enumerate(sorted(positions.items()))
    ]
    return readings, entries


def deliver_slot(op: RegionOperator, slot: int) -> list[ReadingRow]:
    """Store signed BEC readings of the slot's traders and settle the slot's delivery."""
    store = op.store
    readings, entries = store_slot_readings(op, slot)
    positions = {e.account for e in entries}
    # the operator derives the same positions from the stored trades and BEC register deltas
    derived = delivery_positions(store, op.region, slot, op.slot_seconds)
    assert [d for d in derived if d.account in positions] == entries
    op.settle_delivery(slot)
    return readings


def flip_byte(store: Store, table: str, column: str, where: str, params: Sequence[Any]) -> None:
    """Flip one byte of a blob behind the store's back (raw SQL on its own connection)."""
    url = store.url
    if url.startswith("sqlite:"):
        con: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        mark = "?"
    else:
        import psycopg

        con = psycopg.connect(url)
        mark = "%s"
    try:
        q = where.replace("?", mark)
        row = con.execute(f"SELECT {column} FROM {table} WHERE {q}", tuple(params)).fetchone()
        value = bytearray(row[0])
        value[len(value) // 2] ^= 0x01
        con.execute(
            f"UPDATE {table} SET {column} = {mark} WHERE {q}", (bytes(value), *tuple(params))
        )
        con.commit()
    finally:
        con.close()


def traded_slot(store: Store, region: str) -> int:
    return next(s.slot_start_s for s in store.list_settlements(region)
                if store.list_trades(region, s.slot_start_s))  # fmt: skip


def test_city_settles_end_to_end(
    ledger_backend: LedgerBackend, store: Store, tmp_path: Path
) -> None:
    settler, report = settle_city(ledger_backend, store, tmp_path)
    totals = settler.totals
    assert totals.regions == 2 and totals.trades == report.total("trades") > 0
    assert totals.transactions >= totals.slots > 0 and totals.gas_used > 0
    assert [r.region for r in load_deployments(tmp_path)] == ["north", "south"]
    for region, op in settler.operators.items():
        settlements = store.list_settlements(region)
        for s in settlements:
            state = op.market.slot(s.slot_start_s)
            assert state.status == SlotStatus.TRADED
            assert state.orders_root == s.orders_root
            orders = store.list_orders(region, s.slot_start_s)
            assert s.orders_root == merkle.merkle_root(
                merkle.order_leaf(o.order_id) for o in orders
            )
            trades = store.list_trades(region, s.slot_start_s)
            assert state.trade_count == len(trades)
            assert state.amount_micro == sum(t.amount_micro for t in trades)
            assert state.fee_micro == sum(t.fee_micro for t in trades)
            assert s.tx_hashes and s.block_number > 0
        market_trades = sum(r.total("trades") for r in report.regions if r.region == region)
        assert len(store.list_trades(region)) == market_trades
        # the region's energy company bought on chain what the market sold it, from its escrow
        company = example_company(region).key.address
        bought = [t for t in store.list_trades(region) if t.buyer == company]
        company_wh = sum(r.total("company_wh") for r in report.regions if r.region == region)
        assert sum(t.energy_wh for t in bought) == company_wh
        spent = sum(t.amount_micro + t.fee_micro for t in bought)
        assert op.market.escrow_of(address_bytes(company)) == DEFAULT_DEPOSIT_MICRO - spent
    assert totals.companies == 2 and report.total("company_wh") > 0


def test_metered_city_settles_every_delivery_and_verifies(
    ledger_backend: LedgerBackend, store: Store, tmp_path: Path
) -> None:
    settler, report = settle_city(ledger_backend, store, tmp_path, meter=True)
    totals = settler.totals
    households = report.regions[0].households
    slots = len(report.regions[0].slots)
    # every household's BEC: a baseline reading, then one per slot, all through the ingest checks
    assert totals.readings == store.reading_count() == 2 * households * (slots + 1)
    assert totals.delivered_slots == totals.slots == 2 * slots
    tariff = RuleSet().tariff
    retail, feed_in = tariff.retail_price_micro_per_kwh, tariff.feed_in_price_micro_per_kwh
    for region in report.regions:
        op = settler.operators[region.region]
        companies = {example_company(region.region).key.address_bytes}
        grid_micro = 0
        for s in region.slots:
            assert op.market.slot(s.slot.start_s).status == SlotStatus.DELIVERED
            positions = delivery_positions(
                store, region.region, s.slot.start_s, 900, is_unmetered=companies.__contains__
            )
            # each household's imbalance is exactly its grid fallback in the market's result
            assert sum(max(p.imbalance_wh, 0) for p in positions) == s.grid_import_wh
            assert sum(max(-p.imbalance_wh, 0) for p in positions) == s.grid_export_wh
            grid_micro += sum(p.settlement_micro(retail, feed_in) for p in positions)
        # the operator's escrow: its deposit, the network fees, grid charges less feed-in credits
        fees = sum(t.fee_micro for t in store.list_trades(region.region))
        assert op.market.escrow_of(settler.operator.address_bytes) == (
            OPERATOR_DEPOSIT_MICRO + fees + grid_micro
        )
    audit = verify_store(store, ledger_backend, tmp_path)
    assert audit.ok, audit.mismatch
    assert audit.readings == store.reading_count()


def test_reopen_and_resettle_is_idempotent(embedded_backend: LedgerBackend, tmp_path: Path) -> None:
    from gridledger.store import open_store

    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        first, _ = settle_city(embedded_backend, store, tmp_path, meter=True)
        addresses = {r: op.deployment.addresses for r, op in first.operators.items()}
        settlements = store.list_settlements()
        readings = store.reading_count()
        again, _ = settle_city(embedded_backend, store, tmp_path, meter=True)
        assert {r: op.deployment.addresses for r, op in again.operators.items()} == addresses
        assert again.totals.transactions == 0  # every slot was on chain already: only recorded
        assert again.totals.readings == 0 and store.reading_count() == readings  # metered already
        assert store.list_settlements() == settlements
        assert verify_store(store, embedded_backend, tmp_path).ok
        op = again.operators["north"]
        assert op.market.escrow_of(op.operator.address_bytes) < 2 * OPERATOR_DEPOSIT_MICRO
        admin, _ = demo_keys()
        with pytest.raises(LedgerError, match="not by"):
            RegionOperator.open(
                embedded_backend, store, tmp_path, "north", admin=admin, operator=admin
            )
        record = DeploymentRecord.load(deployment_path(tmp_path, "north"))
        assert record.chain_id == embedded_backend.chain_id and record.slot_seconds == 900


def test_orders_not_signed_for_the_market_are_refused_before_anything_is_stored(
    embedded_backend: LedgerBackend, tmp_path: Path
) -> None:
    from gridledger.store import open_store

    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        with pytest.raises(LedgerError, match="not signed for this region's market"):
            settle_city(embedded_backend, store, tmp_path, sign_for_market=False)
        assert store.list_orders("north") == [] and store.list_trades("north") == []
        assert store.list_settlements() == []


def test_reopening_a_market_with_another_domain_is_refused(
    embedded_backend: LedgerBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridledger.ledger.settlement import MarketClient
    from gridledger.store import open_store

    admin, operator = demo_keys()
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        first = RegionOperator.open(
            embedded_backend, store, tmp_path, "north", admin=admin, operator=operator
        )
        assert first.market.domain_separator() == first.domain.separator
        # what a contract deployed before orders were bound to their market answers
        monkeypatch.setattr(
            MarketClient,
            "domain_separator",
            lambda _self: Domain(embedded_backend.chain_id).separator,
        )
        with pytest.raises(LedgerError, match="another EIP-712 domain"):
            RegionOperator.open(
                embedded_backend, store, tmp_path, "north", admin=admin, operator=operator
            )


def test_tariff_mismatch_is_refused(embedded_backend: LedgerBackend, tmp_path: Path) -> None:
    from gridledger.store import open_store

    admin, _ = demo_keys()
    operator = data_dir_operator(tmp_path)
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        # a region deployed with another fee than the market's: refused before anything is written
        RegionOperator.open(
            embedded_backend, store, tmp_path, "north", admin=admin, operator=operator,
            tariffs=Tariffs(fee_micro_per_kwh=1),
        )  # fmt: skip
        with pytest.raises(ConfigError, match="tariff settings"):
            settle_city(embedded_backend, store, tmp_path)
        assert store.list_settlements() == [] and store.list_orders("north") == []


def test_delivery_records_the_readings_root(
    ledger_backend: LedgerBackend, store: Store, tmp_path: Path
) -> None:
    settler, _ = settle_city(ledger_backend, store, tmp_path)
    op = settler.operators["north"]
    slot = traded_slot(store, "north")
    readings = deliver_slot(op, slot)
    state = op.market.slot(slot)
    assert state.status == SlotStatus.DELIVERED
    root = merkle.merkle_root(merkle.reading_leaf(r.payload) for r in readings)
    assert state.readings_root == root
    recorded = store.get_settlement("north", slot)
    assert recorded is not None and recorded.readings_root == root
    assert len(recorded.tx_hashes) >= 2
    with pytest.raises(LedgerError, match="no recorded trade settlement"):
        op.settle_delivery(slot + 900 * 1000, [])


def test_delivery_positions_need_every_traders_meter(
    embedded_backend: LedgerBackend, store: Store, tmp_path: Path
) -> None:
    settler, _ = settle_city(embedded_backend, store, tmp_path)
    op = settler.operators["north"]
    slot = traded_slot(store, "north")
    with pytest.raises(LedgerError, match="traded but no meter of theirs reported"):
        op.settle_delivery(slot)
    assert op.market.slot(slot).status == SlotStatus.TRADED  # nothing was sent
    # a household with a meter and no trade settles its whole flow at grid prices
    key = Signer(keccak(b"meter of a non-trader"))
    owner = keccak(b"non-trader")[:20]
    store.add_site(Site("north-idle", "north", owner))
    store.add_device(Device("north-idle-bec", "north-idle", "bec", key.address_bytes))
    for seq, (imp, exp) in enumerate(((100, 0), (350, 40)), start=1):
        ts = slot * 1000 + seq * 60_000
        wire = DeviceReading("north", key.address_bytes, seq, ts, DeviceKind.BEC, imp, exp, 0).sign(
            key, Domain(embedded_backend.chain_id)
        )
        store.insert_readings(
            [ReadingRow("north-idle-bec", seq, ts, imp, exp, 0, wire[:-65], wire[-65:])]
        )
    readings = deliver_slot(op, slot)  # stores the traders' readings, checks, settles
    assert Delivery(owner, 0, 0, 250, 40) in delivery_positions(store, "north", slot, 900)
    assert op.market.slot(slot).status == SlotStatus.DELIVERED
    assert len(readings) > 0


def test_update_settlement_needs_a_recorded_slot(store: Store) -> None:
    from gridledger.errors import StoreError
    from gridledger.store import Settlement

    s = Settlement("north", 900, b"\1" * 32, b"\2" * 32, bytes(32), (b"\3" * 32,), 5)
    with pytest.raises(StoreError, match="add_settlement first"):
        store.update_settlement(s)
    store.add_settlement(s)
    later = Settlement("north", 900, s.result_hash, s.orders_root, b"\4" * 32,
                       (*s.tx_hashes, b"\5" * 32), 9)  # fmt: skip
    store.update_settlement(later)
    assert store.get_settlement("north", 900) == later
    with pytest.raises(StoreError, match="32 bytes"):
        store.update_settlement(Settlement("north", 900, b"", b"", b"", (b"\1",), 0))


def test_deliver_command_settles_a_slot_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gridledger.chain import open_ledger
    from gridledger.cli import main
    from gridledger.identity import Keystore
    from gridledger.store import open_store

    data = tmp_path / "data"
    backend = open_ledger("embedded", data, 1337)
    try:
        with open_store(f"sqlite:///{data / 'gridledger.sqlite'}") as store:
            settler, _ = settle_city(backend, store, data)
            slot = traded_slot(store, "north")
            store_slot_readings(settler.operators["north"], slot)
    finally:
        backend.close()
    admin, _ = demo_keys()
    operator = data_dir_operator(data)
    keys = Keystore(data / "keys", kdf_iterations=2)
    keys.create("admin", "pw", signer=admin)
    # the operator's key arrives as a hex file and is imported, as docs/cli.md shows
    key_file = tmp_path / "operator.key"
    key_file.write_text("0x" + operator.private_key.hex() + "\n")
    monkeypatch.setenv("GRIDLEDGER_DATA_DIR", str(data))
    monkeypatch.setenv("GRIDLEDGER_PASSPHRASE", "pw")
    monkeypatch.delenv("GRIDLEDGER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    monkeypatch.setattr("gridledger.cli.group.KDF_ITERATIONS", 2)
    imported = runner.invoke(
        main, ["keys", "import", "operator", "--private-key-file", str(key_file)]
    )
    assert imported.exit_code == 0 and operator.address in imported.output, imported.output

    def deliver(*args: str) -> Any:
        return runner.invoke(main, ["deliver", "--region", "north", *args])

    unknown = runner.invoke(
        main, ["deliver", "--region", "east", "--slot", str(slot), "--key", "operator"]
    )
    assert unknown.exit_code == 8 and "no deployment of region 'east'" in unknown.output
    wrong_key = deliver("--slot", str(slot), "--key", "admin")
    assert wrong_key.exit_code == 8 and "not by" in wrong_key.output
    misaligned = deliver("--slot", str(slot + 60), "--key", "operator")
    assert misaligned.exit_code == 2 and "15-min slot" in misaligned.output
    iso = datetime.fromtimestamp(slot, UTC).isoformat()
    done = deliver("--slot", iso, "--key", "operator")
    assert done.exit_code == 0, done.output
    assert f"delivered region north slot {slot}" in done.output
    again = deliver("--slot", str(slot), "--key", "operator")
    assert again.exit_code == 8 and "settled already" in again.output
    audit = runner.invoke(main, ["verify"])
    assert audit.exit_code == 0, audit.output
    assert "(1 delivered," in audit.output
