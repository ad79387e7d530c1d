"""10,000 signed readings through each transport into each store: all stored once, none lost.

Some messages arrive twice: the devices' gateway re-publishes a few (exact copies), and ingest is
made to lose the acknowledgements of one batch and reconnect, so the broker redelivers them.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence

import pytest

from gridledger.identity import Domain
from gridledger.store import Store
from gridledger.telemetry import (
    BatchResult,
    Delivery,
    Handler,
    Ingestor,
    Site,
    Transport,
    make_sites,
    open_transport,
    run_ingest,
    traffic,
)

DOMAIN = Domain(1337)
SITES, STEPS = 25, 100  # 25 sites x 4 devices x 100 steps = 10,000 readings
REPUBLISHED = 250


@pytest.fixture(scope="module")
def city() -> tuple[list[Site], list[tuple[str, bytes]]]:
    sites = make_sites(SITES, "north", seed=7)
    start = int(time.time() * 1000) - 2 * 86_400_000
    return sites, traffic(sites, STEPS, start, 60_000, DOMAIN)


class LosesAcks:
    """Wraps a transport; after ``keep`` acknowledgements, swallows the rest (as if lost)."""

    def __init__(self, inner: Transport, keep: int) -> None:
        self.inner, self.keep, self.passed, self.dropped = inner, keep, 0, 0
        self.subscribed = threading.Event()

    @property
    def client_id(self) -> str:
        return self.inner.client_id

    def publish(self, topic: str, payload: bytes) -> None:
        self.inner.publish(topic, payload)

    def flush(self, timeout_s: float = 10.0) -> None:
        self.inner.flush(timeout_s)

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        def wrapped(delivery: Delivery) -> None:
            real_ack = delivery._ack

            def ack() -> None:
                if self.passed < self.keep:
                    self.passed += 1
                    if real_ack is not None:
                        real_ack()
                else:
                    self.dropped += 1

            delivery._ack = ack
            handler(delivery)

        self.inner.subscribe(topic_filter, wrapped)
        self.subscribed.set()

    def close(self) -> None:
        self.inner.close()


def with_copies(
    msgs: list[tuple[str, bytes]], copies: int, seed: int
) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    picks = sorted(rng.sample(range(len(msgs) // 2), copies))
    it = iter(picks)
    nxt = next(it, None)
    for i, msg in enumerate(msgs):
        yield msg
        if i >= 2 * (nxt if nxt is not None else len(msgs)):
            assert nxt is not None
            yield msgs[nxt]  # an exact copy of an earlier reading, later in the stream
            nxt = next(it, None)


def wait_for(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_ten_thousand_readings_stored_exactly_once(
    telemetry_url: str, store: Store, city: tuple[list[Site], list[tuple[str, bytes]]]
) -> None:
    sites, msgs = city
    assert len(msgs) == 10_000
    for site in sites:
        site.register(store)
    ingestor = Ingestor(store, DOMAIN)
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"

    # phase 1: ingest stores batches but loses the acknowledgements after the first 3,000
    first = LosesAcks(open_transport(telemetry_url, client_id), keep=3000)
    stop1 = threading.Event()

    def on_batch(batch: Sequence[Delivery], result: BatchResult) -> None:
        if first.dropped:
            stop1.set()

    phase1 = threading.Thread(
        target=run_ingest, args=(first, ingestor), kwargs={"stop": stop1, "on_batch": on_batch}
    )
    phase1.start()
    assert first.subscribed.wait(10)

    publisher = open_transport(telemetry_url, f"gateway-{uuid.uuid4().hex[:8]}")
    published = 0
    done_publishing = threading.Event()

    def publish() -> None:
        nonlocal published
        for topic, payload in with_copies(msgs, REPUBLISHED, seed=3):
            publisher.publish(topic, payload)
            published += 1
        publisher.flush(60)
        done_publishing.set()

    pub_thread = threading.Thread(target=publish)
    pub_thread.start()
    try:
        assert stop1.wait(60), "phase 1 never reached its lost acknowledgements"
        phase1.join(10)
        lost_acks = first.dropped
        assert lost_acks > 0
        first.close()  # stored but unacknowledged: the session will deliver these again

        # phase 2: a fresh connection with the same client id resumes the session
        second = open_transport(telemetry_url, client_id)
        stop2 = threading.Event()
        phase2 = threading.Thread(
            target=run_ingest, args=(second, ingestor), kwargs={"stop": stop2}
        )
        phase2.start()
        expected_dups = REPUBLISHED + lost_acks
        assert done_publishing.wait(120)
        assert wait_for(
            lambda: (
                store.reading_count() == 10_000 and ingestor.stats["duplicate"] >= expected_dups
            ),
            60,
        ), (store.reading_count(), dict(ingestor.stats), expected_dups)
        time.sleep(0.3)  # let anything unexpected arrive
        stop2.set()
        phase2.join(10)
        second.close()
    finally:
        stop1.set()
        pub_thread.join(60)
        publisher.close()

    assert published == 10_000 + REPUBLISHED
    assert store.reading_count() == 10_000
    per_device = store.last_sequences()
    assert len(per_device) == SITES * 4 and set(per_device.values()) == {STEPS}
    for device_id in list(per_device)[:5]:
        assert store.reading_count(device_id) == STEPS
    assert ingestor.stats["accepted"] == 10_000
    assert ingestor.stats["duplicate"] == expected_dups
    assert store.rejection_counts() == {"duplicate": expected_dups}
    assert store.integrity_check() == []
