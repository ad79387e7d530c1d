"""The one interface every store backend implements, and the rows it stores.

Two backends sit behind :class:`Store` (DESIGN.md, "Parts and their real engines"):

* ``sqlite:///PATH``: SQLite through the standard library, WAL journal, ``synchronous=NORMAL``,
  foreign keys on (:mod:`gridledger.store.sqlite`); the embedded default. ``sqlite:///rel/path``
  is relative to the working directory, ``sqlite:////abs/path`` absolute, ``sqlite:///:memory:``
  a private in-memory database.
* ``postgresql://USER@HOST:PORT/DB`` (or ``postgres://``): PostgreSQL through psycopg 3
  (:mod:`gridledger.store.postgres`).

Both hold the same logical schema (:mod:`gridledger.store.migrations`), applied on open.

Conventions of every row and method:

* energy is integer watt-hours (``*_wh``), power integer watts (``power_w``), money integer
  micro-units (``*_micro``), prices micro-units per kWh; all stored as 64-bit integers;
* a reading's time is **integer milliseconds since the Unix epoch, UTC** (``ts_ms``); a market slot
  is its start in integer seconds (``slot_start_s``), as in the signed ``Order`` message. Query
  methods take ``start``/``end`` as timezone-aware datetimes or as integer milliseconds; ranges are
  half-open ``[start, end)``. :func:`to_ms` and :func:`from_ms` convert;
* addresses, hashes, signatures and raw payloads are raw ``bytes`` (20, 32, 65, any bytes);
* regions, sites and devices are named by short strings (``region``, ``site_id``, ``device_id``).

Every failure of the database is raised as :class:`~gridledger.errors.StoreError`; a write batch is
one transaction and is never partially applied.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from gridledger.devices.messages import DeviceKind, Reading
from gridledger.errors import StoreError
from gridledger.market import Order, Trade
from gridledger.slots import require_utc

#: The kinds of device a site can hold, by their store names (one :class:`DeviceKind` each).
DEVICE_KINDS: tuple[str, ...] = tuple(k.store_name for k in DeviceKind)

#: A point in time for queries: an aware datetime, or integer milliseconds since the epoch (UTC).
TimeArg = datetime | int


def to_ms(value: TimeArg, title: str = "time") -> int:
    """Integer milliseconds since the Unix epoch (UTC) of an aware datetime or an int of ms."""
    if isinstance(value, bool):
        raise StoreError(f"{title} must be an aware datetime or integer milliseconds, got bool")
    if isinstance(value, int):
        return value
    ts = require_utc(value, title)
    return (ts - _EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of integer milliseconds since the Unix epoch."""
    return _EPOCH + ms * _ONE_MS


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - _EPOCH


@dataclass(frozen=True, slots=True)
class Region:
    """A city region that runs its own market. ``operator`` is its operator's address."""

    region: str
    name: str = ""
    operator: bytes | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """One household: the devices behind one grid connection, owned by ``owner`` (an address)."""

    site_id: str
    region: str
    owner: bytes
    registered_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Device:
    """A metered device of a site.

    ``address`` is the address of the device's own signing key. ``params`` holds the device's
    static description as JSON-able values (e.g. ``capacity_wh``, ``max_charge_w``, ``peak_w``).
    """

    device_id: str
    site_id: str
    kind: str
    address: bytes
    registered_at_ms: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReadingRow:
    """The store's row of one signed meter reading (:class:`gridledger.devices.Reading`) as
    ingest accepted it: the device's id, the decoded columns the queries use, and the raw signed
    bytes.

    Registers are cumulative and monotonic [Wh]; ``None`` where the device has no such register:

    * ``import_wh``: energy that flowed *into* the device: BEC OBIS 1.8.0 (from the grid),
      accumulator charged, load / EV charger consumed;
    * ``export_wh``: energy that flowed *out of* the device: BEC OBIS 2.8.0 (to the grid),
      accumulator discharged, PV meter and fuel cell produced.

    ``power_w`` is the instantaneous power [W], positive out of the device (export, production,
    discharge) and negative into it. ``soc_permille`` is an accumulator's state of charge
    [0.1 %, 0..1000]. ``extra`` holds any further fields (SunSpec 802 state, alarms, SoH) as
    JSON-able values. ``payload`` and ``signature`` are the raw bytes exactly as the device signed
    them, so the archive can prove the reading against a Merkle root later. ``(device_id,
    sequence)`` is unique: storing a reading twice stores it once.
    """

    device_id: str
    sequence: int
    ts_ms: int
    import_wh: int | None
    export_wh: int | None
    power_w: int | None
    payload: bytes
    signature: bytes
    soc_permille: int | None = None
    extra: Mapping[str, Any] | None = None

    @property
    def timestamp(self) -> datetime:
        """``ts_ms`` as an aware UTC datetime."""
        return from_ms(self.ts_ms)

    @classmethod
    def of(cls, device_id: str, reading: Reading, body: bytes, signature: bytes) -> ReadingRow:
        """The row of a signed reading: every column is a field of the signed message, so a
        stored row can be checked column by column against its payload (ingest builds the same
        row inline on its hot path; a test pins the two equal)."""
        if reading.kind == DeviceKind.ACCUMULATOR:
            return cls(
                device_id, reading.sequence, reading.timestamp_ms, reading.import_wh,
                reading.export_wh, reading.power_w, body, signature, reading.soc_permille,
                {"soh_permille": reading.soh_permille, "state": reading.state,
                 "alarms": reading.alarms},
            )  # fmt: skip
        extra = (
            {"state": reading.state, "alarms": reading.alarms}
            if reading.state or reading.alarms
            else None
        )
        return cls(
            device_id, reading.sequence, reading.timestamp_ms, reading.import_wh,
            reading.export_wh, reading.power_w, body, signature, None, extra,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message ingest refused. ``device_id`` is ``None`` when it could not be read or is unknown.

    ``reason`` is a short machine code (e.g. ``bad_signature``, ``replay``, ``register_backwards``,
    ``future_timestamp``, ``unknown_device``, ``malformed``); ``detail`` is free text.
    """

    received_at_ms: int
    device_id: str | None
    reason: str
    detail: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class EnergyInterval:
    """Energy of one device kind over one interval [Wh], from cumulative register deltas.

    ``start_ms`` is the interval's start. A register delta between two consecutive readings of a
    device counts in the interval that holds the later reading.
    """

    start_ms: int
    kind: str
    import_wh: int
    export_wh: int


#: Where a slot stands in the settlement protocol (docs/architecture.md, "Store and chain"):
#: ``pending`` (orders, trades and roots recorded, the chain not yet confirmed), ``traded`` (the
#: chain settled the trades), ``delivering`` (the delivery's readings root recorded, the chain not
#: yet confirmed), ``delivered``.
SETTLEMENT_STATES: tuple[str, ...] = ("pending", "traded", "delivering", "delivered")


@dataclass(frozen=True, slots=True)
class Settlement:
    """A slot settled on the ledger: the roots it recorded and the transactions that did it.

    ``state`` is one of :data:`SETTLEMENT_STATES`; ``tx_hashes`` and ``block_number`` are the
    chain's receipts of what is confirmed so far.
    """

    region: str
    slot_start_s: int
    result_hash: bytes
    orders_root: bytes
    readings_root: bytes
    tx_hashes: tuple[bytes, ...]
    block_number: int
    settled_at_ms: int = 0
    state: str = "traded"


#: A fault's life cycle (:class:`gridledger.monitor.FaultStatus`): ``open`` -> ``acknowledged``
#: (the owner saw it) -> ``closed`` (the symptom went away).
FAULT_STATES: tuple[str, ...] = ("open", "acknowledged", "closed")
#: A fault's severity (:class:`gridledger.monitor.Severity`).
SEVERITIES: tuple[str, ...] = ("info", "minor", "major")
#: The columns of a stored fault, the keys of the mappings :meth:`Store.save_faults` takes and
#: :meth:`Store.list_faults` returns: ids as text, times integer ms since the epoch (UTC),
#: ``evidence`` a mapping of names to numbers (stored as JSON), ``acknowledged_by`` the 20-byte
#: address of the account that acknowledged it. The monitor maps its ``Fault`` to this row and
#: back (``gridledger.monitor.faults.records``); the store keeps no fault class of its own.
FAULT_COLUMNS: tuple[str, ...] = (
    "site_id", "device_id", "kind", "first_seen_ms", "severity", "last_seen_ms", "raised_at_ms",
    "state", "explanation", "evidence", "acknowledged_at_ms", "acknowledged_by", "closed_at_ms",
)  # fmt: skip


@runtime_checkable
class Store(Protocol):
    """Durable storage of devices, readings, rejections, orders, trades, settlements and faults."""

    @property
    def url(self) -> str:
        """The URL this store was opened with."""
        ...

    @property
    def schema_version(self) -> int:
        """The schema version of the open database (the last applied migration)."""
        ...

    # -- registry ------------------------------------------------------------------------------
    def add_region(self, region: Region) -> None:
        """Add a region; adding the same region again is a no-op."""
        ...

    def list_regions(self) -> list[Region]: ...

    def add_site(self, site: Site) -> None:
        """Add a site of an existing region; adding the same site again is a no-op."""
        ...

    def get_site(self, site_id: str) -> Site | None: ...

    def list_sites(self, region: str | None = None) -> list[Site]: ...

    def add_device(self, device: Device) -> None:
        """Add a device of an existing site; adding the same device again is a no-op."""
        ...

    def get_device(self, device_id: str) -> Device | None: ...

    def list_devices(self, site_id: str | None = None) -> list[Device]: ...

    # -- readings ------------------------------------------------------------------------------
    def insert_readings(self, batch: Iterable[ReadingRow]) -> int:
        """Store a batch in one transaction; return how many were new.

        Readings already stored (same ``device_id`` and ``sequence``) are skipped. A reading that
        cannot be stored (unknown device, NULL payload...) raises :class:`StoreError` and nothing
        of the batch is stored.
        """
        ...

    def get_reading(self, device_id: str, sequence: int) -> ReadingRow | None:
        """The stored reading ``(device_id, sequence)``, or ``None``."""
        ...

    def last_sequence(self, device_id: str) -> int | None:
        """Highest stored sequence of a device, or ``None`` if it has no readings."""
        ...

    def last_sequences(self) -> dict[str, int]:
        """Highest stored sequence of every device that has readings."""
        ...

    def readings(self, device_id: str, start: TimeArg, end: TimeArg) -> list[ReadingRow]:
        """Readings of a device with ``start <= ts < end``, by sequence."""
        ...

    def region_readings(self, region: str, start: TimeArg, end: TimeArg) -> list[ReadingRow]:
        """Readings of every device of a region with ``start <= ts < end``.

        Ordered by ``(device_id, sequence)``, a deterministic order for the Merkle root of a
        slot's readings.
        """
        ...

    def reading_count(self, device_id: str | None = None) -> int:
        """Number of stored readings, of one device or of all."""
        ...

    def latest_state(self, site_id: str | None = None) -> dict[str, ReadingRow]:
        """The reading with the highest sequence of every device (of one site, or of all)."""
        ...

    def energy_per_interval(
        self, site_id: str, start: TimeArg, end: TimeArg, interval_s: int
    ) -> list[EnergyInterval]:
        """Energy per interval and device kind of one site, by ``(start_ms, kind)``.

        Intervals are ``interval_s`` long from ``start``; only intervals with readings appear.
        """
        ...

    def region_energy_per_interval(
        self, region: str, start: TimeArg, end: TimeArg, interval_s: int
    ) -> list[EnergyInterval]:
        """As :meth:`energy_per_interval`, summed over every site of a region."""
        ...

    # -- rejections ----------------------------------------------------------------------------
    def record_rejections(self, batch: Iterable[Rejection]) -> int:
        """Store a batch of rejections in one transaction; return how many."""
        ...

    def rejection_counts(self) -> dict[str, int]:
        """Number of stored rejections by reason code."""
        ...

    def rejections(self, limit: int = 100) -> list[Rejection]:
        """The most recent rejections, newest first."""
        ...

    # -- market and ledger ---------------------------------------------------------------------
    def add_orders(self, batch: Iterable[Order], received_at_ms: int = 0) -> int:
        """Store the market's signed orders in one transaction, received at ``received_at_ms``;
        skip an order whose ``order_id`` is already stored. Return how many were new."""
        ...

    def get_order(self, order_id: bytes) -> Order | None: ...

    def list_orders(self, region: str, slot_start_s: int | None = None) -> list[Order]:
        """Orders of a region (and slot), by ``(slot_start_s, order_id)``.

        Raise :class:`StoreError` for a row whose stored ``order_id`` is not the id of its
        stored fields (a damaged or edited row).
        """
        ...

    def order_status(self, order_id: bytes) -> str | None:
        """An order's status (``open`` when stored, then what :meth:`set_order_status` set)."""
        ...

    def set_order_status(self, order_id: bytes, status: str) -> None:
        """Set an order's status; raise :class:`StoreError` for an unknown order."""
        ...

    def add_trades(self, region: str, slot_start_s: int, trades: Sequence[Trade]) -> int:
        """Store a cleared slot's trades (the market's, in result order: the index of a trade is
        its position) in one transaction; skip an index already stored. Return new ones."""
        ...

    def list_trades(self, region: str, slot_start_s: int | None = None) -> list[Trade]:
        """Trades of a region (and slot), by ``(slot_start_s, index)``; raise
        :class:`StoreError` when a slot's indexes are not 0, 1, 2... (a damaged row)."""
        ...

    def add_settlement(self, settlement: Settlement) -> None:
        """Record a settled slot; raise :class:`StoreError` if that slot is already recorded."""
        ...

    def record_slot(
        self,
        settlement: Settlement,
        orders: Sequence[Order],
        trades: Sequence[Trade],
        received_at_ms: int,
    ) -> None:
        """Record a cleared slot's orders, trades and settlement in ONE transaction.

        The settlement protocol's intent: either all of it is stored or none of it. Orders
        already stored are kept; raise :class:`StoreError` if the slot already has a settlement
        or trades.
        """
        ...

    def update_settlement(self, settlement: Settlement) -> None:
        """Replace a recorded slot's settlement (e.g. its readings root once delivery settled);
        raise :class:`StoreError` if that slot is not recorded."""
        ...

    def get_settlement(self, region: str, slot_start_s: int) -> Settlement | None: ...

    def list_settlements(self, region: str | None = None) -> list[Settlement]: ...

    # -- faults --------------------------------------------------------------------------------
    def save_faults(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert or update faults (mappings of :data:`FAULT_COLUMNS`), keyed by ``(site_id,
        device_id, kind, first_seen_ms)``; return how many rows were written. An update keeps
        the severity, explanation and evidence of the copy with the latest ``last_seen_ms`` (a
        tie: the one saved last), and never moves the life cycle back: closed stays closed,
        acknowledged stays acknowledged until it closes, the first acknowledgement and closing
        time are kept."""
        ...

    def list_faults(
        self, site_id: str | None = None, states: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Stored faults (of one site, in some :data:`FAULT_STATES`), by ``(first_seen_ms,
        site_id, device_id, kind)``."""
        ...

    # -- maintenance ---------------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        """Problems found in the stored data, one line each; empty when all is well.

        SQLite runs ``PRAGMA integrity_check`` and ``foreign_key_check``; both backends check that
        registers never go backwards and timestamps never go back along a device's sequence,
        that every reading's device exists and that every trade's amount follows the rounding rule.
        """
        ...

    def close(self) -> None:
        """Close the connection; further calls raise :class:`StoreError`."""
        ...

    def __enter__(self) -> Store: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
