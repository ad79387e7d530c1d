"""``verify_store`` and ``gridledger verify``: the store replayed against the chain.

A small simulated city is settled end to end (one slot also delivered, with signed meter
readings); verify passes; then one byte is flipped behind the store's API (raw SQL) in a stored
trade, a stored reading's payload, a stored order, a stored settlement root: verify finds each,
and names the region, slot and record.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_operator_region import deliver_slot, flip_byte, settle_city, traded_slot

from gridledger.chain.backend import LedgerBackend
from gridledger.cli import main
from gridledger.operator.audit import verify_store
from gridledger.store import Store


def _settled(backend: LedgerBackend, store: Store, data_dir: Path) -> tuple[Store, int]:
    settler, _ = settle_city(backend, store, data_dir)
    slot = traded_slot(store, "north")
    deliver_slot(settler.operators["north"], slot)
    return store, slot


@pytest.fixture
def city(ledger_backend: LedgerBackend, store: Store, tmp_path: Path) -> tuple[Store, int]:
    """The settled city on every ledger and store backend; the store and a delivered slot of
    region north."""
    return _settled(ledger_backend, store, tmp_path)


@pytest.fixture
def embedded_city(
    embedded_backend: LedgerBackend, store: Store, tmp_path: Path
) -> tuple[Store, int]:
    """As ``city``, on the embedded chain only (keeps the file fast)."""
    return _settled(embedded_backend, store, tmp_path)


def _verify(store: Store, backend: LedgerBackend, data_dir: Path) -> str:
    report = verify_store(store, backend, data_dir)
    assert not report.ok
    assert report.mismatch is not None
    return report.mismatch


def test_settled_city_verifies(
    city: tuple[Store, int], ledger_backend: LedgerBackend, tmp_path: Path
) -> None:
    store, _ = city
    report = verify_store(store, ledger_backend, tmp_path)
    assert report.ok, report.mismatch
    assert report.regions == 2 and report.delivered_slots == 1
    assert report.slots == len(store.list_settlements())
    assert report.trades == len(store.list_trades("north")) + len(store.list_trades("south"))
    assert report.readings > 0 and report.orders > report.trades
    assert "2 regions" in report.summary()


def test_flipped_trade_byte_is_found(
    city: tuple[Store, int], ledger_backend: LedgerBackend, tmp_path: Path
) -> None:
    store, slot = city
    flip_byte(store, "trades", "seller", "region = ? AND slot_start_s = ? AND idx = ?",
              ("north", slot, 0))  # fmt: skip
    mismatch = _verify(store, ledger_backend, tmp_path)
    assert mismatch.startswith(f"region north, slot {slot} (")
    assert "trade 0" in mismatch and "seller" in mismatch


def test_flipped_reading_payload_byte_is_found(
    embedded_city: tuple[Store, int], embedded_backend: LedgerBackend, tmp_path: Path
) -> None:
    store, slot = embedded_city
    reading = store.region_readings("north", slot * 1000, (slot + 900) * 1000)[-1]
    flip_byte(store, "readings", "payload", "device_id = ? AND sequence = ?",
              (reading.device_id, reading.sequence))  # fmt: skip
    mismatch = _verify(store, embedded_backend, tmp_path)
    assert mismatch.startswith(f"region north, slot {slot} (")
    assert f"reading {reading.device_id}#{reading.sequence}" in mismatch


def test_flipped_reading_signature_byte_is_found(
    embedded_city: tuple[Store, int], embedded_backend: LedgerBackend, tmp_path: Path
) -> None:
    store, slot = embedded_city
    reading = store.region_readings("north", slot * 1000, (slot + 900) * 1000)[0]
    flip_byte(store, "readings", "signature", "device_id = ? AND sequence = ?",
              (reading.device_id, reading.sequence))  # fmt: skip
    mismatch = _verify(store, embedded_backend, tmp_path)
    assert f"reading {reading.device_id}#{reading.sequence}" in mismatch
    assert "signature" in mismatch


@pytest.mark.parametrize("column", ["owner", "signature", "order_id"])
def test_flipped_order_byte_is_found(
    embedded_city: tuple[Store, int], embedded_backend: LedgerBackend, tmp_path: Path, column: str
) -> None:
    store, _ = embedded_city
    order = store.list_orders("south")[0]
    flip_byte(store, "orders", column, "order_id = ?", (order.order_id,))
    mismatch = _verify(store, embedded_backend, tmp_path)
    assert mismatch.startswith(f"region south, slot {order.slot_start_s} (")
    assert "order 0x" in mismatch


def test_flipped_settlement_root_is_found(
    embedded_city: tuple[Store, int], embedded_backend: LedgerBackend, tmp_path: Path
) -> None:
    store, slot = embedded_city
    flip_byte(store, "settlements", "readings_root", "region = ? AND slot_start_s = ?",
              ("north", slot))  # fmt: skip
    assert "readings root" in _verify(store, embedded_backend, tmp_path)


def test_chain_slot_missing_from_store(embedded_backend: LedgerBackend, tmp_path: Path) -> None:
    import sqlite3

    from gridledger.store import open_store

    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        settle_city(embedded_backend, store, tmp_path)
        last = store.list_settlements("south")[-1]
        con = sqlite3.connect(tmp_path / "store.sqlite")
        con.execute("DELETE FROM settlements WHERE region = 'south' AND slot_start_s = ?",
                    (last.slot_start_s,))  # fmt: skip
        con.commit()
        con.close()
        mismatch = _verify(store, embedded_backend, tmp_path)
    assert mismatch.startswith(f"region south, slot {last.slot_start_s} (")
    assert "no settlement" in mismatch


def test_cli_simulate_settle_then_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRIDLEDGER_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    args = ["simulate", "--settle", "--households", "4", "--hours", "1",
            "--start", "2026-06-21T10:00:00+00:00"]  # fmt: skip
    simulated = runner.invoke(main, args)
    assert simulated.exit_code == 0, simulated.output
    assert "settled on embedded" in simulated.output and "transactions" in simulated.output
    verified = runner.invoke(main, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert "verified" in verified.output and "2 regions" in verified.output

    chain = tmp_path / "data" / "chain.sqlite"
    chain.rename(tmp_path / "chain.sqlite")
    missing = runner.invoke(main, ["verify"])  # verify never creates the chain it checks
    assert missing.exit_code == 8 and "no embedded chain" in missing.output
    assert not chain.exists()
    from gridledger.chain import open_ledger

    open_ledger("embedded", chain.parent).close()  # a fresh chain has none of the contracts
    elsewhere = runner.invoke(main, ["verify"])
    assert elsewhere.exit_code == 1 and "no market contract answers" in elsewhere.output
    for leftover in chain.parent.glob("chain.sqlite*"):
        leftover.unlink()
    (tmp_path / "chain.sqlite").rename(chain)

    con = sqlite3.connect(tmp_path / "data" / "gridledger.sqlite")
    region, slot, idx, buyer = con.execute(
        "SELECT region, slot_start_s, idx, buyer FROM trades ORDER BY region, slot_start_s LIMIT 1"
    ).fetchone()
    flipped = bytes([buyer[0] ^ 0x80]) + buyer[1:]
    con.execute("UPDATE trades SET buyer = ? WHERE region = ? AND slot_start_s = ? AND idx = ?",
                (flipped, region, slot, idx))  # fmt: skip
    con.commit()
    con.close()
    failed = runner.invoke(main, ["verify"])
    assert failed.exit_code == 1
    assert f"MISMATCH: region {region}, slot {slot} (" in failed.output
    assert f"trade {idx}" in failed.output and "buyer" in failed.output
