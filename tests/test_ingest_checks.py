"""Ingest refuses every kind of bad reading with its reason recorded; both store backends."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridledger.devices import (
    READING_SIZE,
    Accumulator,
    DeviceKind,
    HouseholdLoad,
    Reading,
    decode_reading,
)
from gridledger.errors import StoreError
from gridledger.identity import Domain, Signer
from gridledger.store import Store
from gridledger.telemetry import REASONS, Ingestor, Site, make_sites, traffic

DOMAIN = Domain(1337)
NOW_MS = 1_780_000_000_000


def setup(store: Store) -> tuple[Ingestor, Site]:
    site = make_sites(1, "north", seed=1)[0]
    site.register(store)
    return Ingestor(store, DOMAIN, clock_ms=lambda: NOW_MS), site


def load_of(site: Site) -> HouseholdLoad:
    device = site.find(HouseholdLoad)
    assert isinstance(device, HouseholdLoad)
    return device


def resign(payload: bytes, signer: Signer, **changes: object) -> bytes:
    """The same reading with ``changes``, correctly signed by ``signer``."""
    reading, _ = decode_reading(payload)
    fields: dict[str, Any] = {f: getattr(reading, f) for f in Reading.__slots__}
    fields.update(changes)
    return Reading(**fields).sign(signer, DOMAIN)


def test_accepts_a_clean_stream_and_stores_every_field(store: Store) -> None:
    ingestor, site = setup(store)
    msgs = traffic([site], 5, NOW_MS - 3_600_000, 60_000, DOMAIN)
    result = ingestor.process(msgs)
    assert (result.accepted, result.stored, sum(result.rejected.values())) == (20, 20, 0)
    assert store.reading_count() == 20
    latest = store.latest_state(site.site_id)
    acc = site.find(Accumulator)
    assert isinstance(acc, Accumulator)
    stored = latest[acc.device_id]
    assert (stored.sequence, stored.import_wh, stored.soc_permille) == (
        5, acc.import_wh, acc.soc_permille,
    )  # fmt: skip
    assert stored.extra is not None and stored.extra["soh_permille"] == 1000
    assert bytes(stored.payload) + bytes(stored.signature) == msgs[-3][1]
    assert store.integrity_check() == []


def test_tampered_readings_are_rejected_with_their_reason(store: Store) -> None:
    ingestor, site = setup(store)
    load = load_of(site)  # the household load meter: its import register moves
    base = traffic([site], 3, NOW_MS - 3_600_000, 60_000, DOMAIN)
    assert ingestor.process(base).accepted == 12
    topic, last = base[-2]  # the load meter's third reading
    assert decode_reading(last)[0].device == load.address
    load.consume(3000, 60_000)
    fresh = load.signed_reading(NOW_MS - 60_000, DOMAIN)  # a valid 4th reading, used as a template
    one_byte = bytearray(fresh)
    one_byte[1 + 32 + 20 + 8 + 8 + 1 + 7] ^= 0x01  # the last byte of the import register
    stranger = Signer.generate()
    cases: list[tuple[str, str | None, bytes]] = [
        ("bad_signature", topic, bytes(one_byte)),
        ("bad_signature", topic, resign(fresh, stranger)),  # wrong key
        ("bad_signature", topic, fresh[:-65] + bytes(65)),  # unsigned
        (
            "replay",
            topic,
            resign(last, load.signer, import_wh=10**6),
        ),  # old sequence, new content
        ("duplicate", topic, last),  # the very same reading again
        ("register_backwards", topic, resign(fresh, load.signer, import_wh=0)),
        (
            "future_timestamp",
            topic,
            resign(fresh, load.signer, timestamp_ms=NOW_MS + 3_600_000),
        ),
        ("timestamp_backwards", topic, resign(fresh, load.signer, timestamp_ms=1)),
        ("wrong_region", topic, resign(fresh, load.signer, region="south")),
        ("wrong_kind", topic, resign(fresh, load.signer, kind=DeviceKind.FUEL_CELL)),
        ("topic_mismatch", "gridledger/north/other/other-load/readings", fresh),
        ("topic_mismatch", topic.replace("/north/", "/south/"), fresh),
        ("unknown_device", topic, resign(fresh, stranger, device=stranger.address_bytes)),
        ("malformed", topic, fresh[:-1]),
        ("malformed", topic, b"\x00" + fresh[1:]),
        ("malformed", topic, resign(fresh, load.signer, sequence=2**63)),
        ("malformed", topic, b""),
    ]
    for reason, name, payload in cases:
        result = ingestor.process([(name, payload)])
        assert result.rejected == {reason: 1}, (reason, result)
    assert store.reading_count() == 12  # nothing of the above was stored
    counts = store.rejection_counts()
    expected: dict[str, int] = {}
    for reason, _, _ in cases:
        expected[reason] = expected.get(reason, 0) + 1
    assert counts == expected
    assert set(counts) <= set(REASONS)
    recorded = store.rejections(limit=100)
    assert all(r.detail for r in recorded)
    assert {r.device_id for r in recorded if r.reason == "replay"} == {load.device_id}
    # the untampered reading still goes through afterwards
    assert ingestor.process([(topic, fresh)]).accepted == 1
    assert store.integrity_check() == []


def test_duplicates_within_one_batch_are_stored_once(store: Store) -> None:
    ingestor, site = setup(store)
    msgs = traffic([site], 4, NOW_MS - 3_600_000, 60_000, DOMAIN)
    result = ingestor.process(msgs + msgs[:5])
    assert result.accepted == 16 and result.rejected == {"duplicate": 5}
    assert store.reading_count() == 16


def test_registry_is_refreshed_for_devices_registered_later(store: Store) -> None:
    ingestor, _ = setup(store)
    late = make_sites(1, "north", seed=2, first=1)[0]
    msgs = traffic([late], 1, NOW_MS - 60_000, 60_000, DOMAIN)
    assert ingestor.process(msgs).rejected == {"unknown_device": 4}
    late.register(store)
    assert ingestor.process(traffic([late], 1, NOW_MS - 1000, 1000, DOMAIN)).accepted == 4


def test_restarted_ingestor_resumes_from_the_store(store: Store) -> None:
    ingestor, site = setup(store)
    msgs = traffic([site], 3, NOW_MS - 3_600_000, 60_000, DOMAIN)
    ingestor.process(msgs[:8])
    again = Ingestor(store, DOMAIN, clock_ms=lambda: NOW_MS)
    result = again.process(msgs)
    assert result.accepted == 4 and result.rejected == {"duplicate": 8}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.binary(min_size=READING_SIZE, max_size=READING_SIZE).map(lambda b: b"\x52" + b[1:]),
        ),
        max_size=8,
    )
)
def test_fuzz_ingest_never_raises(store: Store, payloads: list[bytes]) -> None:
    ingestor = Ingestor(store, DOMAIN, clock_ms=lambda: int(time.time() * 1000))
    result = ingestor.process([("gridledger/a/b/c/readings", p) for p in payloads])
    assert result.accepted == 0
    assert sum(result.rejected.values()) == len(payloads)


def test_pipelined_stream_stores_the_same_and_spots_in_flight_duplicates(store: Store) -> None:
    ingestor, site = setup(store)
    msgs = traffic([site], 10, NOW_MS - 3_600_000, 60_000, DOMAIN)
    batches: list[tuple[int, list[tuple[str | None, bytes]]] | None] = []
    for token, i in enumerate(range(0, 40, 8)):
        again = msgs[i - 8 : i - 6] if i else []  # two readings of the batch still in flight
        batches.append((token, [*msgs[i : i + 8], *again]))
        if token == 2:
            batches.append(None)  # idle tick
    results = list(ingestor.process_stream(batches))
    assert [token for token, _ in results] == [0, 1, 2, 3, 4]
    assert sum(r.accepted for _, r in results) == 40
    assert sum(r.rejected["duplicate"] for _, r in results) == 8
    assert store.reading_count() == 40
    assert store.rejection_counts() == {"duplicate": 8}


class FailsOnce:
    """A store whose next insert_readings fails (as a lost database connection would)."""

    def __init__(self, inner: Store) -> None:
        self.inner, self.armed = inner, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def insert_readings(self, batch: Any) -> int:
        if self.armed:
            self.armed = False
            raise StoreError("connection lost")
        return self.inner.insert_readings(batch)


def test_a_failed_write_leaves_the_batch_retryable(store: Store) -> None:
    site = make_sites(1, "north", seed=1)[0]
    site.register(store)
    flaky = FailsOnce(store)
    ingestor = Ingestor(cast(Store, flaky), DOMAIN, clock_ms=lambda: NOW_MS)
    msgs = traffic([site], 3, NOW_MS - 3_600_000, 60_000, DOMAIN)
    assert ingestor.process(msgs[:4]).accepted == 4
    flaky.armed = True
    with pytest.raises(StoreError):
        ingestor.process(msgs[4:])
    result = ingestor.process(msgs[4:])  # the transport redelivers: nothing is a "replay"
    assert result.accepted == 8 and not result.rejected
    assert store.reading_count() == 12
