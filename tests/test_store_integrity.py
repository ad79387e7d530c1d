"""integrity_check finds corruption written behind the store's back, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_store_open import raw_execute
from test_store_readings import reading, register

from gridledger.identity import checksum
from gridledger.market import Trade
from gridledger.store import Store, open_store


@pytest.fixture
def filled(store: Store) -> Store:
    register(store, "s1", "central", ("bec1", "bec"), ("pv1", "pv_meter"))
    store.insert_readings([reading("bec1", s, 1000 * s, 10 * s, 5 * s) for s in range(10)])
    store.insert_readings([reading("pv1", s, 1000 * s, None, 7 * s) for s in range(10)])
    assert store.integrity_check() == []
    return store


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        (
            "UPDATE readings SET import_wh = 1 WHERE device_id = 'bec1' AND sequence = 5",
            "device bec1 sequence 5 goes back: import_wh 40 -> 1",
        ),
        (
            "UPDATE readings SET export_wh = 0 WHERE device_id = 'pv1' AND sequence = 9",
            "device pv1 sequence 9 goes back: export_wh 56 -> 0",
        ),
        (
            "UPDATE readings SET ts_ms = 0 WHERE device_id = 'bec1' AND sequence = 3",
            "device bec1 sequence 3 goes back: ts_ms 2000 -> 0",
        ),
    ],
)
def test_finds_values_going_back(filled: Store, sql: str, found: str) -> None:
    raw_execute(filled.url if filled.url.startswith("sqlite") else _raw_url(filled), sql)
    problems = filled.integrity_check()
    assert any(found in p for p in problems), problems


def test_finds_a_reading_of_an_unknown_device(filled: Store) -> None:
    url = _raw_url(filled)
    if url.startswith("sqlite"):
        # SQLite enforces foreign keys per connection: a connection without them can corrupt
        raw_execute(
            url, "UPDATE readings SET device_id = 'ghost' WHERE device_id = 'pv1' AND sequence = 0"
        )
    else:
        raw_execute(url, "ALTER TABLE readings DROP CONSTRAINT readings_device_id_fkey")
        raw_execute(
            url, "UPDATE readings SET device_id = 'ghost' WHERE device_id = 'pv1' AND sequence = 0"
        )
    problems = filled.integrity_check()
    assert any("unknown device ghost" in p for p in problems), problems


def test_finds_a_trade_amount_off_the_rounding_rule(filled: Store) -> None:
    x, y = checksum(b"x" * 20), checksum(b"y" * 20)
    filled.add_trades("c", 0, [Trade(b"a" * 32, b"b" * 32, x, y, 1999, 1001, 2000, 0)])
    assert filled.integrity_check() == []  # 1999 * 1001 // 1000 == 2000
    raw_execute(_raw_url(filled), "UPDATE trades SET amount_micro = 2001")
    problems = filled.integrity_check()
    assert any("amount_micro 2001 != energy_wh * price // 1000 = 2000" in p for p in problems)


def test_sqlite_finds_damaged_pages(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        register(store, "s1", "central", ("bec1", "bec"))
        store.insert_readings([reading("bec1", s, s, s, s) for s in range(2000)])
    raw_execute(f"sqlite:///{path}", "PRAGMA wal_checkpoint(TRUNCATE)")
    # overwrite part of a page of the readings index (a page in the middle of the file)
    data = bytearray(path.read_bytes())
    page = 4096
    middle = (len(data) // page // 2) * page
    data[middle + 100 : middle + 400] = b"\x00\x01\x02" * 100
    path.write_bytes(bytes(data))
    with open_store(f"sqlite:///{path}") as store:
        problems = store.integrity_check()
    assert problems, "a damaged page went unnoticed"
    assert any("sqlite:" in p or "malformed" in p for p in problems), problems


def _raw_url(store: Store) -> str:
    # a PostgresStore's url hides any password; the test server has none, so it connects as is
    return store.url
