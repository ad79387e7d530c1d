"""Readings, rejections and the monitor queries, against both backends."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridledger.errors import StoreError
from gridledger.store import (
    Device,
    EnergyInterval,
    ReadingRow,
    Region,
    Rejection,
    Site,
    Store,
    from_ms,
    to_ms,
)

OWNER = b"\x11" * 20
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
T0_MS = to_ms(T0)


def reading(
    device_id: str, sequence: int, ts_ms: int, import_wh: int | None, export_wh: int | None,
    power_w: int = 0, soc_permille: int | None = None, extra: dict[str, Any] | None = None,
) -> ReadingRow:  # fmt: skip
    """A reading with a payload unique to ``(device_id, sequence)``."""
    payload = f"{device_id}/{sequence}".encode()
    return ReadingRow(
        device_id, sequence, ts_ms, import_wh, export_wh, power_w, payload, b"\x99" * 65,
        soc_permille, extra,
    )  # fmt: skip


def register(store: Store, site: str, region: str, *devices: tuple[str, str]) -> None:
    store.add_region(Region(region))
    store.add_site(Site(site, region, OWNER, T0_MS))
    for device_id, kind in devices:
        store.add_device(Device(device_id, site, kind, bytes(20), T0_MS))


@pytest.fixture
def home(store: Store) -> Store:
    register(store, "s1", "central", ("bec1", "bec"), ("pv1", "pv_meter"), ("ea1", "accumulator"))
    return store


def test_registry_round_trip(home: Store) -> None:
    assert home.get_device("bec1") == Device("bec1", "s1", "bec", bytes(20), T0_MS)
    assert home.get_device("nope") is None
    assert [d.device_id for d in home.list_devices()] == ["bec1", "ea1", "pv1"]
    assert [d.device_id for d in home.list_devices("s1")] == ["bec1", "ea1", "pv1"]
    assert home.list_devices("s2") == []
    assert home.get_site("s1") == Site("s1", "central", OWNER, T0_MS)
    assert home.list_sites("central") == [Site("s1", "central", OWNER, T0_MS)]
    home.add_device(Device("bec1", "s1", "bec", bytes(20), T0_MS))  # again: a no-op
    params = {"capacity_wh": 10_000, "max_charge_w": 5_000}
    home.add_device(Device("ea2", "s1", "accumulator", bytes(20), 5, params))
    assert home.get_device("ea2") == Device("ea2", "s1", "accumulator", bytes(20), 5, params)


@pytest.mark.parametrize(
    "device",
    [
        Device("x", "no-such-site", "bec", bytes(20), 0),
        Device("x", "s1", "toaster", bytes(20), 0),
    ],
)
def test_bad_devices_are_refused(home: Store, device: Device) -> None:
    with pytest.raises(StoreError):
        home.add_device(device)
    assert home.get_device("x") is None


def test_readings_round_trip_and_duplicates_ignored(home: Store) -> None:
    batch = [
        reading("ea1", i, T0_MS + i * 1000, 10 * i, 5 * i, power_w=-300, soc_permille=500 + i,
                extra={"soh_permille": 990, "alarms": []})
        for i in range(10)
    ]  # fmt: skip
    assert home.insert_readings(batch) == 10
    assert home.insert_readings(batch) == 0
    assert home.insert_readings([*batch[5:], reading("ea1", 10, T0_MS + 10000, 100, 50)]) == 1
    assert home.insert_readings([]) == 0
    assert home.reading_count() == 11
    assert home.reading_count("ea1") == 11
    assert home.reading_count("bec1") == 0
    got = home.readings("ea1", T0, T0 + timedelta(seconds=5))
    assert got == batch[:5]
    assert got[0].timestamp == T0
    assert home.readings("ea1", T0_MS + 9000, T0_MS + 100_000)[0] == batch[9]
    assert home.get_reading("ea1", 3) == batch[3]
    assert home.get_reading("ea1", 99) is None
    assert home.get_reading("nope", 3) is None


def test_duplicates_inside_one_batch(home: Store) -> None:
    r = reading("bec1", 1, T0_MS, 1, 1)
    assert home.insert_readings([r, r, r]) == 1
    assert home.reading_count() == 1


def test_last_sequences_and_latest_state(home: Store) -> None:
    assert home.last_sequence("bec1") is None
    assert home.last_sequences() == {}
    assert home.latest_state() == {}
    home.insert_readings([reading("bec1", s, T0_MS + s, s, 0) for s in (3, 1, 7, 5)])
    home.insert_readings([reading("pv1", s, T0_MS + s, None, s) for s in (0, 2)])
    assert home.last_sequence("bec1") == 7
    assert home.last_sequences() == {"bec1": 7, "pv1": 2}
    latest = home.latest_state()
    assert latest == {"bec1": reading("bec1", 7, T0_MS + 7, 7, 0), "pv1": reading("pv1", 2,
                      T0_MS + 2, None, 2)}  # fmt: skip
    assert home.latest_state("s1") == latest
    assert home.latest_state("elsewhere") == {}


BAD_ROWS: list[Callable[[int], ReadingRow]] = [
    lambda s: reading("ghost", s, T0_MS, 1, 1),  # unknown device
    lambda s: reading("ea1", s, T0_MS, 1, 1, soc_permille=1001),  # SoC out of range
    lambda s: reading("ea1", 2**63, T0_MS, 1, 1),  # sequence beyond 64 bits
    lambda s: reading("ea1", s, T0_MS, -5, 1),  # negative register
    lambda s: ReadingRow("ea1", s, T0_MS, 1, 1, 0, None, b""),  # type: ignore[arg-type]  # no payload
]


@pytest.mark.parametrize("bad", BAD_ROWS, ids=["unknown", "soc", "overflow", "negative", "null"])
def test_a_bad_row_rolls_back_the_whole_batch(
    home: Store, bad: Callable[[int], ReadingRow]
) -> None:
    before = [reading("ea1", s, T0_MS + s, s, s) for s in range(5)]
    assert home.insert_readings(before) == 5
    batch = [reading("ea1", s, T0_MS + s, s, s) for s in range(5, 10)]
    batch.insert(3, bad(100))
    with pytest.raises(StoreError, match="nothing of it was stored"):
        home.insert_readings(batch)
    assert home.reading_count() == 5
    assert home.readings("ea1", 0, 2**62) == before
    assert home.insert_readings(batch[:3]) == 3  # the store still works afterwards


def test_energy_per_interval_hand_computed(store: Store) -> None:
    register(store, "s1", "central", ("bec1", "bec"), ("pv1", "pv_meter"))
    register(store, "s2", "central", ("load2", "load"))
    register(store, "s3", "north", ("bec3", "bec"))
    t = T0_MS
    store.insert_readings([
        reading("bec1", 0, t - 500, 100, 50),  # before the range: the base of the first delta
        reading("bec1", 1, t + 1000, 110, 50),  # +10 import      -> interval 0
        reading("bec1", 2, t + 4000, 130, 55),  # +20 import +5   -> interval 0
        reading("bec1", 3, t + 6000, 130, 70),  # +15 export      -> interval 1
        reading("bec1", 4, t + 12_000, 200, 70),  # after the range: ignored
        reading("pv1", 0, t + 2000, None, 1000),  # first reading ever: no delta
        reading("pv1", 1, t + 7000, None, 1600),  # +600 export    -> interval 1
        reading("load2", 0, t + 3000, 10, None),
        reading("load2", 1, t + 8000, 25, None),  # +15 import     -> interval 1
        reading("bec3", 0, t + 1000, 0, 0),
        reading("bec3", 1, t + 2000, 999, 0),  # other region
    ])  # fmt: skip
    assert store.energy_per_interval("s1", T0, T0 + timedelta(seconds=10), 5) == [
        EnergyInterval(t, "bec", 30, 5),
        EnergyInterval(t, "pv_meter", 0, 0),
        EnergyInterval(t + 5000, "bec", 0, 15),
        EnergyInterval(t + 5000, "pv_meter", 0, 600),
    ]
    assert store.region_energy_per_interval("central", t, t + 10_000, 5) == [
        EnergyInterval(t, "bec", 30, 5),
        EnergyInterval(t, "load", 0, 0),
        EnergyInterval(t, "pv_meter", 0, 0),
        EnergyInterval(t + 5000, "bec", 0, 15),
        EnergyInterval(t + 5000, "load", 15, 0),
        EnergyInterval(t + 5000, "pv_meter", 0, 600),
    ]
    # one interval over everything: the total is the register difference across the range
    assert store.energy_per_interval("s1", t, t + 10_000, 10) == [
        EnergyInterval(t, "bec", 30, 20),
        EnergyInterval(t, "pv_meter", 0, 600),
    ]
    assert store.energy_per_interval("nowhere", t, t + 10_000, 10) == []
    with pytest.raises(StoreError, match="interval_s"):
        store.energy_per_interval("s1", t, t + 10_000, 0)


def test_rejections(store: Store) -> None:
    batch = [
        Rejection(T0_MS, None, "malformed", "not JSON", b"\x00\xff"),
        Rejection(T0_MS + 1, "bec1", "replay", "sequence 3 <= 7", b"abc"),
        Rejection(T0_MS + 2, "bec1", "replay", "sequence 4 <= 7", b"abd"),
    ]
    assert store.rejection_counts() == {}
    assert store.record_rejections(batch) == 3
    assert store.record_rejections([]) == 0
    assert store.rejection_counts() == {"malformed": 1, "replay": 2}
    assert store.rejections() == batch[::-1]
    assert store.rejections(limit=1) == [batch[2]]


_devices = itertools.count()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(st.integers(min_value=0, max_value=40), max_size=30), min_size=1, max_size=5
    )
)
def test_any_redelivery_stores_each_reading_once(home: Store, batches: list[list[int]]) -> None:
    device_id = f"h{next(_devices)}"
    home.add_device(Device(device_id, "s1", "load", bytes(20), 0))
    total = 0
    seen: set[int] = set()
    for batch in batches:
        new = home.insert_readings([reading(device_id, s, s * 1000, s, None) for s in batch])
        assert new == len(set(batch) - seen)
        seen |= set(batch)
        total += new
    assert total == len(seen) == home.reading_count(device_id)
    assert home.last_sequence(device_id) == (max(seen) if seen else None)
    assert [r.sequence for r in home.readings(device_id, 0, 10**9)] == sorted(seen)


def test_time_conversions() -> None:
    assert from_ms(T0_MS) == T0
    assert to_ms(T0) == T0_MS
    assert to_ms(1234) == 1234
    with pytest.raises(ValueError, match="timezone"):
        to_ms(datetime(2026, 1, 1))


def energy_reference(
    points: list[tuple[int, int]], start: int, end: int, step: int
) -> dict[int, int]:
    """Per-interval energy of one register by hand: each delta counts where the later reading is."""
    out: dict[int, int] = {}
    prev: int | None = None
    for ts, value in points:
        if start <= ts < end:
            bucket = start + (ts - start) // step * step
            out[bucket] = out.get(bucket, 0) + (0 if prev is None else value - prev)
        prev = value
    return out


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 5_000), st.integers(0, 1_000)), min_size=1, max_size=40
    ),
    start=st.integers(0, 100_000),
    length=st.integers(1, 100_000),
    interval_s=st.integers(1, 60),
)
def test_energy_per_interval_matches_register_deltas(
    home: Store, steps: list[tuple[int, int]], start: int, length: int, interval_s: int
) -> None:
    device_id = f"e{next(_devices)}"
    site_id = f"site-{device_id}"
    register(home, site_id, "central", (device_id, "pv_meter"))
    points: list[tuple[int, int]] = []
    ts = value = 0
    for dt, de in steps:
        ts, value = ts + dt, value + de
        points.append((ts, value))
    home.insert_readings([reading(device_id, seq, t, None, v) for seq, (t, v) in enumerate(points)])
    got = home.energy_per_interval(site_id, start, start + length, interval_s)
    assert {e.start_ms: e.export_wh for e in got} == energy_reference(
        points, start, start + length, interval_s * 1000
    )
    assert all(e.import_wh == 0 and e.kind == "pv_meter" for e in got)


def test_one_store_shared_by_threads(home: Store) -> None:
    def write(device_id: str) -> None:
        for i in range(0, 400, 50):
            home.insert_readings([reading(device_id, s, s, s, s) for s in range(i, i + 50)])

    threads = [threading.Thread(target=write, args=(d,)) for d in ("bec1", "pv1", "ea1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert home.last_sequences() == {"bec1": 399, "pv1": 399, "ea1": 399}
    assert home.reading_count() == 1200


def test_region_readings_in_a_deterministic_order(store: Store) -> None:
    register(store, "s1", "central", ("b", "bec"), ("a", "pv_meter"))
    register(store, "s2", "north", ("c", "bec"))
    rows = [reading(d, s, 1000 * s, s, s) for s in (2, 0, 1) for d in ("a", "b", "c")]
    store.insert_readings(rows)
    got = store.region_readings("central", 0, 2000)
    assert [(r.device_id, r.sequence) for r in got] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert store.region_readings("south", 0, 2000) == []
