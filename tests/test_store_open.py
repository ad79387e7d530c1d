"""Opening stores: URLs, migrations, version checks, lifetime; both backends where it applies."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

import gridledger.store
from gridledger.errors import StoreError
from gridledger.store import Region, Store, open_store
from gridledger.store import _sql as sql_module
from gridledger.store.migrations import MIGRATIONS, SCHEMA_VERSION, Migration
from gridledger.wal import enter_wal


def raw_execute(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run SQL behind the store's back (``?`` placeholders), return the rows."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    with psycopg.connect(url, autocommit=True) as pg:
        cur = pg.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def test_public_surface() -> None:
    assert set(gridledger.store.__all__) == {
        "DEVICE_KINDS", "FAULT_COLUMNS", "FAULT_STATES", "SETTLEMENT_STATES", "SEVERITIES",
        "Device", "EnergyInterval", "ReadingRow", "Region",
        "Rejection",
        "Settlement", "Site", "Store", "TimeArg", "from_ms", "open_store", "to_ms",
    }  # fmt: skip


def test_fresh_store_is_migrated_and_empty(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.schema_version == SCHEMA_VERSION
    assert store.reading_count() == 0
    assert store.list_devices() == []
    assert store.integrity_check() == []


def test_migrations_are_idempotent(store_url: str) -> None:
    for _ in range(3):
        with open_store(store_url) as store:
            store.add_region(Region("central"))
            assert store.schema_version == SCHEMA_VERSION
    rows = raw_execute(store_url, "SELECT version FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    with open_store(store_url) as store:
        assert store.list_regions() == [Region("central")]


def test_refuses_a_database_newer_than_the_code(store_url: str) -> None:
    open_store(store_url).close()
    raw_execute(
        store_url,
        "INSERT INTO schema_version (version, description, applied_at_ms) VALUES (?, ?, ?)",
        (SCHEMA_VERSION + 1, "from the future", 0),
    )
    with pytest.raises(StoreError, match="newer than this gridledger supports"):
        open_store(store_url)


def test_closed_store_refuses_work(store_url: str) -> None:
    store = open_store(store_url)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.reading_count()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("", "non-empty"),
        ("mysql://localhost/db", "unsupported store URL"),
        ("/var/lib/store.sqlite", "unsupported store URL"),
        ("sqlite://", "bad SQLite store URL"),
        ("sqlite:///", "bad SQLite store URL"),
        ("sqlite://host/path", "bad SQLite store URL"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot connect to PostgreSQL"),
        ("postgresql://u:secret@127.0.0.1:1/none", r"u:\*\*\*@"),
    ],
)
def test_bad_urls_give_clear_errors(url: str, match: str) -> None:
    with pytest.raises(StoreError, match=match) as info:
        open_store(url)
    assert "secret" not in str(info.value)


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a database"):
        open_store(f"sqlite:///{path}")


def test_sqlite_creates_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        assert store.reading_count() == 0
    assert path.is_file()
    assert raw_execute(f"sqlite:///{path}", "PRAGMA journal_mode") == [("wal",)]


def test_sqlite_in_memory() -> None:
    with open_store("sqlite:///:memory:") as store:
        store.add_region(Region("north", "North", b"\x01" * 20))
        assert store.list_regions() == [Region("north", "North", b"\x01" * 20)]


def test_enter_wal_waits_for_a_concurrent_opener(tmp_path: Path) -> None:
    # timeout=0 turns SQLite's own busy handler off: only enter_wal's retry can wait here.
    path = tmp_path / "w.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE t (x)")
    opener = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        opener.execute("PRAGMA journal_mode=WAL")
    release = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    release.start()
    enter_wal(opener, timeout_s=5.0)
    release.join()
    assert opener.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    opener.close()
    holder.close()


def test_enter_wal_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE t (x)")
    opener = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enter_wal(opener, timeout_s=0.1)
    opener.close()
    holder.execute("ROLLBACK")
    holder.close()


def test_concurrent_opens_migrate_once(store_url: str) -> None:
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            open_store(store_url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = raw_execute(store_url, "SELECT version FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]


def test_a_new_migration_upgrades_an_old_database(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(store_url) as store:
        store.add_region(Region("central", "Central"))
    v2 = Migration(
        len(MIGRATIONS) + 1, "regions get a note", ("ALTER TABLE regions ADD note TEXT",)
    )
    monkeypatch.setattr(sql_module, "MIGRATIONS", (*MIGRATIONS, v2))
    monkeypatch.setattr(sql_module, "SCHEMA_VERSION", v2.version)
    with open_store(store_url) as store:
        assert store.schema_version == v2.version
        assert store.list_regions() == [Region("central", "Central")]  # data kept
    assert raw_execute(store_url, "SELECT note FROM regions") == [(None,)]
    rows = raw_execute(store_url, "SELECT version, description FROM schema_version ORDER BY 1")
    assert rows[-1] == (v2.version, "regions get a note")
    with open_store(store_url) as store:  # and once only
        assert store.schema_version == v2.version
