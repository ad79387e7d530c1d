"""Faults in the store, against both backends: the monitor's own ``Fault`` goes in as a row and
comes back equal; saving again updates in place (a re-run of the detectors keeps one row) and
never moves the life cycle back (closed stays closed, acknowledged stays acknowledged)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_store_open import raw_execute

from gridledger.errors import StoreError
from gridledger.identity import Signer
from gridledger.monitor import Fault, FaultKind, FaultStatus, Severity, fault_from_row, fault_row
from gridledger.store import FAULT_COLUMNS, Store, open_store

T0 = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)
OWNER = Signer(b"\x22" * 32).address


def outage(site: str = "central-0002", first: datetime = T0) -> Fault:
    return Fault(
        site=site,
        device=f"{site}-pv",
        kind=FaultKind.OUTAGE,
        severity=Severity.MAJOR,
        first_seen=first,
        last_seen=first + timedelta(minutes=15),
        raised_at=first + timedelta(minutes=30),
        evidence={"measured_w": 0.0, "expected_w": 3210.5, "persisted_steps": 2.0},
        explanation="Your PV produces nothing while your neighbours' do: check the inverter.",
    )


def stored(store: Store, site: str | None = None) -> list[Fault]:
    return [fault_from_row(r) for r in store.list_faults(site)]


def test_a_fault_round_trips(store: Store) -> None:
    f = outage()
    acked = f.acknowledge(T0 + timedelta(hours=1), OWNER)
    closed = replace(outage(first=T0 + timedelta(days=1)), severity=Severity.MINOR).close(
        T0 + timedelta(days=1, hours=2)
    )
    assert set(fault_row(f)) == set(FAULT_COLUMNS)
    assert store.save_faults([fault_row(acked), fault_row(closed)]) == 2
    assert stored(store) == [acked, closed]
    assert stored(store, "central-0002") == [acked, closed]
    assert stored(store, "central-0003") == []
    assert store.save_faults([]) == 0


def test_saving_again_updates_one_row(store: Store) -> None:
    f = outage()
    store.save_faults([fault_row(f)])
    later = f.seen_again(T0 + timedelta(hours=2), Severity.MAJOR, {"measured_w": 1.0})
    store.save_faults([fault_row(later), fault_row(later)])
    assert stored(store) == [later]
    # an older copy (a re-run over earlier slots) does not shorten it
    store.save_faults([fault_row(f)])
    assert stored(store)[0].last_seen == later.last_seen
    assert raw_execute(store.url, "SELECT COUNT(*) FROM faults") == [(1,)]
    # the same device and kind seen again from another first slot is another fault
    store.save_faults([fault_row(outage(first=T0 + timedelta(days=2)))])
    assert len(stored(store)) == 2


def test_the_life_cycle_never_goes_back(store: Store) -> None:
    f = outage()
    acked = f.acknowledge(T0 + timedelta(hours=1), OWNER)
    store.save_faults([fault_row(acked)])
    store.save_faults([fault_row(f)])  # the monitor saves its open copy: still acknowledged
    (back,) = stored(store)
    assert back.status is FaultStatus.ACKNOWLEDGED and back.acknowledged_by == OWNER
    assert back.acknowledged_at == T0 + timedelta(hours=1)
    closed = acked.close(T0 + timedelta(hours=3))
    store.save_faults([fault_row(closed)])
    store.save_faults([fault_row(f), fault_row(acked)])  # a re-run that has it open again
    (back,) = stored(store)
    assert back.status is FaultStatus.CLOSED and back.closed_at == T0 + timedelta(hours=3)
    assert back.acknowledged_by == OWNER


def test_lists_filter_by_state(store: Store) -> None:
    a = outage("central-0001")
    b = outage("central-0002").acknowledge(T0, OWNER)
    c = outage("central-0003").close(T0 + timedelta(hours=1))
    store.save_faults(fault_row(x) for x in (a, b, c))
    assert stored(store) == [a, b, c]
    active = store.list_faults(states={"open", "acknowledged"})
    assert [fault_from_row(r) for r in active] == [a, b]
    assert [fault_from_row(r) for r in store.list_faults(states=["closed"])] == [c]
    assert store.list_faults(states=[]) == []
    with pytest.raises(StoreError, match="unknown fault states"):
        store.list_faults(states=["gone"])


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [("state", "solved", "fault state"), ("severity", "huge", "fault severity")],
)
def test_bad_rows_are_refused(store: Store, column: str, value: str, match: str) -> None:
    row = fault_row(outage())
    row[column] = value
    with pytest.raises(StoreError, match=match):
        store.save_faults([row])
    row = fault_row(outage())
    del row["evidence"]
    with pytest.raises(StoreError, match="needs the columns evidence"):
        store.save_faults([row])
    assert store.list_faults() == []


#: The versions of one fault the monitor and the owner write: extended, acknowledged, closed.
VERSIONS = st.lists(
    st.tuples(
        st.integers(0, 40),  # last_seen [slots after first_seen]
        st.sampled_from(["open", "acknowledged", "closed"]),
        st.integers(0, 40),  # when acknowledged or closed [slots]
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60)
@given(versions=VERSIONS)
def test_any_order_of_saves_keeps_the_furthest_life_cycle(
    versions: list[tuple[int, str, int]],
) -> None:
    """Whatever order the versions of a fault are saved in, the row holds the latest last_seen
    and that copy's evidence, the furthest state, and the first acknowledgement and closing it
    was given."""
    slot = timedelta(minutes=15)
    saved = []
    for seen, state, at in versions:
        f = outage().seen_again(T0 + seen * slot, Severity.MAJOR, {"measured_w": float(seen)})
        if state != "open":
            f = f.acknowledge(T0 + at * slot, OWNER)
        if state == "closed":
            f = f.close(T0 + at * slot + timedelta(minutes=1))
        saved.append(f)
    with open_store("sqlite:///:memory:") as store:
        for f in saved:
            store.save_faults([fault_row(f)])
        (row,) = store.list_faults()
    back = fault_from_row(row)
    assert back.last_seen == max(f.last_seen for f in saved)
    states = {f.status for f in saved}
    order = (FaultStatus.CLOSED, FaultStatus.ACKNOWLEDGED, FaultStatus.OPEN)
    assert back.status is next(s for s in order if s in states)
    first_ack = next((f.acknowledged_at for f in saved if f.acknowledged_at), None)
    first_close = next((f.closed_at for f in saved if f.closed_at), None)
    assert back.acknowledged_at == first_ack and back.closed_at == first_close
    newest = [f for f in saved if f.last_seen == back.last_seen][-1]
    assert back.evidence == newest.evidence  # of the copy seen last, never an older one
