"""Numbered, forward-only schema migrations, the same logical schema for SQLite and PostgreSQL.

Each :class:`Migration` is a version number, a one-line description and DDL statements written
once for both engines: ``{blob}`` becomes ``BLOB`` (SQLite) or ``BYTEA`` (PostgreSQL) and
``{serial}`` an auto-numbered integer primary key. Applied migrations are recorded in the
``schema_version`` table (``version``, ``description``, ``applied_at_ms``). :func:`migrate` runs,
on open, every migration newer than the database, each in its own transaction, and refuses a
database whose version is newer than :data:`SCHEMA_VERSION` (written by a newer gridledger).

A migration, once released, is never edited: change the schema by appending a new one.

Schema (version 1). All energies [Wh], powers [W] and money [micro-units] are 64-bit integers;
``*_ms`` columns are milliseconds since the Unix epoch (UTC); ``slot_start_s`` seconds.

* ``regions(region PK, name, operator)``
* ``sites(site_id PK, region -> regions, owner, registered_at_ms)``
* ``devices(device_id PK, site_id -> sites, kind, address, registered_at_ms, params JSON)``
* ``readings((device_id -> devices, sequence) PK, ts_ms, import_wh, export_wh, power_w,
  soc_permille, extra JSON, payload, signature)``, index ``(device_id, ts_ms)``
* ``rejections(id PK, received_at_ms, device_id NULL, reason, detail, payload)``
* ``orders(order_id PK, region, slot_start_s, side, energy_wh, price_micro_per_kwh, owner, nonce,
  target NULL, signature, received_at_ms, status)``
* ``trades((region, slot_start_s, idx) PK, bid_id, ask_id, buyer, seller, energy_wh,
  price_micro_per_kwh, amount_micro, fee_micro)``
* ``settlements((region, slot_start_s) PK, result_hash, orders_root, readings_root, tx_hashes
  (concatenated 32-byte hashes), block_number, settled_at_ms)``

Later versions: 2 ``trades.company``; 3 ``settlements.state``; 4 ``faults((site_id, device_id,
kind, first_seen_ms) PK, severity, last_seen_ms, raised_at_ms, state, explanation, evidence JSON,
acknowledged_at_ms NULL, acknowledged_by NULL (20-byte address), closed_at_ms NULL)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "blob": "BLOB",
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "zero32": "zeroblob(32)",
    },
    "postgres": {
        "blob": "BYTEA",
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "zero32": "decode(repeat('00', 32), 'hex')",
    },
}


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its version, what it does, and its DDL (dialect templates)."""

    version: int
    description: str
    statements: tuple[str, ...]

    def sql(self, dialect: Dialect) -> list[str]:
        """The statements with the dialect's type names filled in."""
        return [s.format(**_TYPES[dialect]) for s in self.statements]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "regions, sites, devices, readings, rejections, orders, trades, settlements",
        (
            """CREATE TABLE regions (
                region TEXT PRIMARY KEY,
                name TEXT NOT NULL DEFAULT '',
                operator {blob}
            )""",
            """CREATE TABLE sites (
                site_id TEXT PRIMARY KEY,
                region TEXT NOT NULL REFERENCES regions(region),
                owner {blob} NOT NULL,
                registered_at_ms BIGINT NOT NULL
            )""",
            "CREATE INDEX sites_region ON sites(region)",
            """CREATE TABLE devices (
                device_id TEXT PRIMARY KEY,
                site_id TEXT NOT NULL REFERENCES sites(site_id),
                kind TEXT NOT NULL CHECK (kind IN
                    ('pv_meter', 'accumulator', 'bec', 'load', 'ev_charger', 'fuel_cell')),
                address {blob} NOT NULL,
                registered_at_ms BIGINT NOT NULL,
                params TEXT NOT NULL DEFAULT '{{}}'
            )""",
            "CREATE INDEX devices_site ON devices(site_id)",
            """CREATE TABLE readings (
                device_id TEXT NOT NULL REFERENCES devices(device_id),
                sequence BIGINT NOT NULL CHECK (sequence >= 0),
                ts_ms BIGINT NOT NULL,
                import_wh BIGINT CHECK (import_wh >= 0),
                export_wh BIGINT CHECK (export_wh >= 0),
                power_w BIGINT,
                soc_permille INTEGER CHECK (soc_permille BETWEEN 0 AND 1000),
                extra TEXT,
                payload {blob} NOT NULL,
                signature {blob} NOT NULL,
                PRIMARY KEY (device_id, sequence)
            )""",
            "CREATE INDEX readings_device_ts ON readings(device_id, ts_ms)",
            """CREATE TABLE rejections (
                id {serial},
                received_at_ms BIGINT NOT NULL,
                device_id TEXT,
                reason TEXT NOT NULL,
                detail TEXT NOT NULL,
                payload {blob} NOT NULL
            )""",
            "CREATE INDEX rejections_reason ON rejections(reason)",
            """CREATE TABLE orders (
                order_id {blob} PRIMARY KEY,
                region TEXT NOT NULL,
                slot_start_s BIGINT NOT NULL,
                side SMALLINT NOT NULL CHECK (side IN (0, 1)),
                energy_wh BIGINT NOT NULL CHECK (energy_wh > 0),
                price_micro_per_kwh BIGINT NOT NULL CHECK (price_micro_per_kwh >= 0),
                owner {blob} NOT NULL,
                nonce BIGINT NOT NULL,
                target {blob},
                signature {blob} NOT NULL,
                received_at_ms BIGINT NOT NULL,
                status TEXT NOT NULL DEFAULT 'open'
            )""",
            "CREATE INDEX orders_region_slot ON orders(region, slot_start_s)",
            """CREATE TABLE trades (
                region TEXT NOT NULL,
                slot_start_s BIGINT NOT NULL,
                idx INTEGER NOT NULL,
                bid_id {blob} NOT NULL,
                ask_id {blob} NOT NULL,
                buyer {blob} NOT NULL,
                seller {blob} NOT NULL,
                energy_wh BIGINT NOT NULL CHECK (energy_wh > 0),
                price_micro_per_kwh BIGINT NOT NULL,
                amount_micro BIGINT NOT NULL,
                fee_micro BIGINT NOT NULL,
                PRIMARY KEY (region, slot_start_s, idx)
            )""",
            """CREATE TABLE settlements (
                region TEXT NOT NULL,
                slot_start_s BIGINT NOT NULL,
                result_hash {blob} NOT NULL,
                orders_root {blob} NOT NULL,
                readings_root {blob} NOT NULL,
                tx_hashes {blob} NOT NULL,
                block_number BIGINT NOT NULL,
                settled_at_ms BIGINT NOT NULL,
                PRIMARY KEY (region, slot_start_s)
            )""",
        ),
    ),
    Migration(
        2,
        "trades.company: a trade with a registered energy company (the market's Trade.company)",
        ("ALTER TABLE trades ADD COLUMN company SMALLINT NOT NULL DEFAULT 0",),
    ),
    Migration(
        3,
        "settlements.state: where a slot stands in the settlement protocol (docs/architecture.md)",
        (
            "ALTER TABLE settlements ADD COLUMN state TEXT NOT NULL DEFAULT 'traded' "
            "CHECK (state IN ('pending', 'traded', 'delivering', 'delivered'))",
            # a slot recorded before this migration with a readings root was delivered
            "UPDATE settlements SET state = 'delivered' WHERE readings_root <> {zero32}",
        ),
    ),
    Migration(
        4,
        "faults: the plant's faults and their open/acknowledged/closed life cycle (docs/faults.md)",
        (
            """CREATE TABLE faults (
                site_id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                first_seen_ms BIGINT NOT NULL,
                severity TEXT NOT NULL CHECK (severity IN ('info', 'minor', 'major')),
                last_seen_ms BIGINT NOT NULL,
                raised_at_ms BIGINT NOT NULL,
                state TEXT NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'acknowledged', 'closed')),
                explanation TEXT NOT NULL DEFAULT '',
                evidence TEXT NOT NULL DEFAULT '{{}}',
                acknowledged_at_ms BIGINT,
                acknowledged_by {blob},
                closed_at_ms BIGINT,
                PRIMARY KEY (site_id, device_id, kind, first_seen_ms),
                CHECK (last_seen_ms >= first_seen_ms)
            )""",
            "CREATE INDEX faults_state ON faults(state, site_id)",
        ),
    ),
)

#: The schema version this code writes: the last migration.
SCHEMA_VERSION = MIGRATIONS[-1].version

SCHEMA_VERSION_DDL = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL
)"""


def _check_numbering(migrations: tuple[Migration, ...]) -> None:
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise AssertionError(f"migration {migration.version} out of order, want {expected}")


_check_numbering(MIGRATIONS)
