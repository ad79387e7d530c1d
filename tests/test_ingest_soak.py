"""Mutation fuzzing of signed readings, and (with ``--soak`` / ``GRIDLEDGER_SOAK=1``) a long run.

No single-bit change anywhere in a signed reading (record or signature) may be accepted: the
signature covers every field and high-s / other-v variants are refused.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mqtt_broker import MosquittoBroker

from gridledger.devices import READING_SIZE
from gridledger.identity import Domain
from gridledger.store import Store, open_store
from gridledger.telemetry import Ingestor, make_sites, open_transport, run_ingest, traffic

SOAK = os.environ.get("GRIDLEDGER_SOAK", "") not in ("", "0") or "--soak" in sys.argv
DOMAIN = Domain(1337)
NOW_MS = 1_780_000_000_000
SITE = make_sites(1, "north", seed=21)[0]
VALID = traffic([SITE], 2, NOW_MS - 120_000, 60_000, DOMAIN)


@settings(
    max_examples=3000 if SOAK else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.integers(0, len(VALID) - 1), st.integers(0, READING_SIZE * 8 - 1))
def test_no_single_bit_flip_is_ever_accepted(store: Store, index: int, bit: int) -> None:
    SITE.register(store)
    ingestor = Ingestor(store, DOMAIN, clock_ms=lambda: NOW_MS)
    topic, payload = VALID[index]
    mutated = bytearray(payload)
    mutated[bit // 8] ^= 1 << (bit % 8)
    result = ingestor.process([(topic, bytes(mutated))])
    assert result.accepted == 0 and sum(result.rejected.values()) == 1
    assert store.reading_count() == 0


@pytest.mark.soak
@pytest.mark.skipif(not SOAK, reason="long run: use --soak or GRIDLEDGER_SOAK=1")
def test_soak_200k_readings_over_mosquitto(mosquitto: MosquittoBroker, tmp_path: object) -> None:
    sites = make_sites(100, "soak", seed=9)
    msgs = traffic(sites, 500, int(time.time() * 1000) - 40 * 86_400_000, 60_000, DOMAIN)
    url = f"sqlite:///{tmp_path}/soak.sqlite"
    with open_store(url) as store:
        for site in sites:
            site.register(store)
        ingestor = Ingestor(store, DOMAIN)
        client_id = f"soak-{uuid.uuid4().hex[:8]}"
        transport = open_transport(mosquitto.url, client_id)
        stop = threading.Event()
        worker = threading.Thread(
            target=run_ingest, args=(transport, ingestor), kwargs={"stop": stop}
        )
        worker.start()
        time.sleep(0.5)
        publisher = open_transport(mosquitto.url, f"soak-gw-{uuid.uuid4().hex[:8]}")
        for topic, payload in msgs:
            publisher.publish(topic, payload)
        publisher.flush(600)
        publisher.close()
        deadline = time.monotonic() + 600
        while store.reading_count() < len(msgs) and time.monotonic() < deadline:
            time.sleep(0.5)
        stop.set()
        worker.join(30)
        transport.close()
        assert store.reading_count() == len(msgs)
        assert store.integrity_check() == []
