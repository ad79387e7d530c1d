"""Tampering with a settled data dir: ``verify`` (``--chain`` for the chain file) finds each edit.

One small city is settled once. Then, one edit at a time on a fresh copy of its data dir:

* every column of every store table is edited in one row (an integer + 1, a blob with one bit
  flipped, a text changed) and ``verify_store`` must report it, unless the column is listed in
  :data:`NOT_COVERED` with the reason no signature, root or chain record covers it;
* one byte is flipped in each of a sample of pages of the embedded chain file; when that changes
  what the file holds (its logical rows), ``verify --chain`` (headers, state trie, full replay,
  then the store against the chain) must report it or SQLite must refuse the damaged file. A
  byte in unused space of a page changes nothing and is counted as such.

The counts are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridledger.chain import open_ledger
from gridledger.chain.embedded import EmbeddedLedger, verify_embedded_chain
from gridledger.cli import main
from gridledger.errors import GridLedgerError
from gridledger.operator.audit import verify_store
from gridledger.store import open_store

#: Columns no proof covers, and why. Everything else must be caught when edited.
NOT_COVERED: dict[str, str] = {
    "regions.name": "a display name, not part of any signed message or chain record",
    "sites.registered_at_ms": "local bookkeeping time of the registration",
    "devices.registered_at_ms": "local bookkeeping time of the registration",
    "devices.params": "the owner's static description of the device (capacity...), unsigned",
    "rejections.*": "messages ingest refused: kept for the record, they prove nothing",
    "orders.received_at_ms": "when the operator received the order: local bookkeeping",
    "orders.status": "the market's working state of an order, not settled data",
    "settlements.settled_at_ms": "local time the settlement was recorded",
    "faults.*": "the monitor's findings about readings: derived, not settled data; no proof",
    "schema_version.description": "migration bookkeeping",
    "schema_version.applied_at_ms": "migration bookkeeping",
}


def _covered(table: str, column: str) -> bool:
    return f"{table}.{column}" not in NOT_COVERED and f"{table}.*" not in NOT_COVERED


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("settled")
    data = root / "var"
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDLEDGER_DATA_DIR", str(data))
    mp.delenv("GRIDLEDGER_CONFIG", raising=False)
    mp.chdir(root)
    try:
        args = ["--households", "6", "--hours", "1", "--start", "2026-06-21T11:00:00+00:00"]
        result = CliRunner().invoke(main, ["simulate", "--settle", *args])
        assert result.exit_code == 0, result.output
        yield data
    finally:
        mp.undo()


def _copy(settled: Path, tmp_path: Path) -> Path:
    data = tmp_path / "var"
    shutil.copytree(settled, data)
    return data


def _verify(data: Path, chain: bool = False) -> str | None:
    """The first mismatch ``verify`` reports (or the error it stops with); None when clean."""
    try:
        backend = open_ledger("embedded", data, 1337, create=False)
    except GridLedgerError as exc:
        return str(exc)
    try:
        if chain:
            assert isinstance(backend, EmbeddedLedger)
            verify_embedded_chain(backend, replay=True)
        with open_store(f"sqlite:///{data / 'gridledger.sqlite'}", create=False) as store:
            report = verify_store(store, backend, data)
        return report.mismatch
    except GridLedgerError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        backend.close()


def _columns(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = []
        for table in sorted(t for t in tables if not t.startswith("sqlite_")):
            for _cid, name, decl, *_ in conn.execute(f"PRAGMA table_info({table})"):
                out.append((table, name, decl.upper()))
        return out


def _edit(path: Path, table: str, column: str) -> bool | None:
    """Change ``column`` in one row of ``table``; False when the table has no such row, None
    when the schema itself refuses the change (a CHECK or NOT NULL constraint)."""
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            f"SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL "
            "ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
        if row is None:
            row = conn.execute(f"SELECT rowid, {column} FROM {table} LIMIT 1").fetchone()
            if row is None:
                return False
        rowid, value = row
        new: object
        if isinstance(value, bytes):
            new = bytes([value[0] ^ 1]) + value[1:] if value else b"\x01"
        elif isinstance(value, int):
            new = value + 1
        elif value is None:
            new = 1
        elif value.startswith("{"):
            data = json.loads(value)
            data["tampered"] = 1
            new = json.dumps(data)
        else:
            new = value + "x"
        try:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (new, rowid))
        except sqlite3.IntegrityError:
            return None
        return True


def test_every_stored_column_edit_is_found(settled: Path, tmp_path: Path) -> None:
    store_file = settled / "gridledger.sqlite"
    assert _verify(settled) is None
    found, documented, empty, refused = [], [], [], []
    missed = []
    for n, (table, column, _decl) in enumerate(_columns(store_file)):
        data = _copy(settled, tmp_path / f"c{n}")
        edited = _edit(data / "gridledger.sqlite", table, column)
        if edited is None:
            refused.append(f"{table}.{column}")
            continue
        if not edited:
            empty.append(f"{table}.{column}")
            continue
        mismatch = _verify(data)
        if mismatch is not None:
            found.append(f"{table}.{column}")
        elif _covered(table, column):
            missed.append(f"{table}.{column}")
        else:
            documented.append(f"{table}.{column}")
        shutil.rmtree(data)
    print(
        f"\nstore columns: {len(found)} edits found by verify, {len(refused)} refused by the "
        f"schema, {len(documented)} not covered by any proof (documented), {len(empty)} in "
        f"empty tables: {empty}"
    )
    assert missed == [], f"edits verify did not find: {missed}"
    assert len(found) >= 45


def test_flipped_bytes_in_the_chain_file_are_found(settled: Path, tmp_path: Path) -> None:
    chain = settled / "chain.sqlite"
    with sqlite3.connect(chain) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    rng = random.Random(2026)
    sample = sorted(rng.sample(range(1, pages), min(24, pages - 1)))
    found, harmless = 0, 0
    missed = []
    before = _dump(chain)
    for page in sample:
        data = _copy(settled, tmp_path / f"p{page}")
        target = data / "chain.sqlite"
        offset = page * page_size + rng.randrange(page_size)
        raw = bytearray(target.read_bytes())
        raw[offset] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(raw))
        try:
            changed = _dump(target) != before
        except sqlite3.DatabaseError:
            changed = True  # SQLite itself refuses the page
        mismatch = _verify(data, chain=True)
        if mismatch is not None:
            found += 1
        elif changed:
            missed.append(f"page {page} byte {offset}")
        else:
            harmless += 1  # unused space of a page: what the file holds did not change
        shutil.rmtree(data)
    print(
        f"\nchain file: {len(sample)} pages flipped, {found} found by verify --chain, "
        f"{harmless} in unused space (no row changed)"
    )
    assert missed == [], f"flips verify --chain did not find: {missed}"
    assert found > 0


def _dump(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        rows: list[tuple[object, ...]] = []
        for table in ("kv", "meta", "txs", "logs"):
            rows += [(table, *r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
        return rows
