"""SIGKILL the ingest process mid-stream and restart it: nothing acknowledged is lost.

Ingest acknowledges a message to the broker only after the batch holding it is committed, so every
reading it logged as acknowledged before the kill must be in the store, the store must pass its
integrity check, and after a restart every published reading is stored exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from mqtt_broker import MosquittoBroker

from gridledger.devices import decode_reading
from gridledger.identity import Domain
from gridledger.store import open_store
from gridledger.telemetry import make_sites, open_transport, readings_filter, traffic

DOMAIN = Domain(1337)
SITES, STEPS = 10, 75  # 3,000 readings


def start_ingest(
    store_url: str, broker: MosquittoBroker, client_id: str, ack_log: Path
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gridledger.telemetry.ingest", "--store", store_url]
    command += ["--telemetry", broker.url, "--chain-id", str(DOMAIN.chain_id)]
    command += ["--client-id", client_id, "--batch-size", "50", "--ack-log", str(ack_log)]
    with open(ack_log.with_suffix(".err"), "ab") as err:
        return subprocess.Popen(command, stderr=err)


def stderr_of(ack_log: Path) -> str:
    return ack_log.with_suffix(".err").read_text()


def acked_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    text = path.read_text()
    return text.split("\n")[:-1]  # only complete lines


def test_sigkill_mid_stream_loses_nothing_acknowledged(
    mosquitto: MosquittoBroker, store_url: str, tmp_path: Path
) -> None:
    sites = make_sites(SITES, "north", seed=11)
    msgs = traffic(sites, STEPS, int(time.time() * 1000) - 86_400_000, 60_000, DOMAIN)
    id_of = {d.address: d.device_id for s in sites for d in s.devices}
    with open_store(store_url) as store:
        for site in sites:
            site.register(store)
    client_id = f"ingest-kill-{uuid.uuid4().hex[:8]}"
    # create the persistent session first, so nothing published before ingest starts is lost
    session = open_transport(mosquitto.url, client_id)
    session.subscribe(readings_filter(), lambda d: None)
    session.close()

    ack_log = tmp_path / "acked.log"
    ingest = start_ingest(store_url, mosquitto, client_id, ack_log)
    publisher = open_transport(mosquitto.url, f"gateway-{uuid.uuid4().hex[:8]}")
    done = threading.Event()

    def publish() -> None:  # about 2,000 readings/s, so the kill lands mid-stream
        for i, (topic, payload) in enumerate(msgs):
            publisher.publish(topic, payload)
            if i % 100 == 99:
                time.sleep(0.05)
        publisher.flush(60)
        done.set()

    pub_thread = threading.Thread(target=publish)
    pub_thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(acked_lines(ack_log)) < 500 and time.monotonic() < deadline:
            assert ingest.poll() is None, stderr_of(ack_log)
            time.sleep(0.005)
        os.kill(ingest.pid, signal.SIGKILL)
        ingest.wait(10)
        assert ingest.returncode == -signal.SIGKILL
        acked = acked_lines(ack_log)
        assert 500 <= len(acked) < len(msgs), "the kill did not land mid-stream"

        with open_store(store_url) as store:
            stored = {
                (r.device_id, r.sequence): bytes(r.payload) + bytes(r.signature)
                for device_id in id_of.values()
                for r in store.readings(device_id, 0, 2**62)
            }
            assert store.integrity_check() == []
        for line in acked:
            payload = bytes.fromhex(line.rsplit(" ", 1)[1])
            reading, _ = decode_reading(payload)
            key = (id_of[reading.device], reading.sequence)
            assert stored.get(key) == payload, f"acknowledged reading {key} is not in the store"

        # restart: the broker redelivers everything unacknowledged; ingest finishes the stream
        ingest = start_ingest(store_url, mosquitto, client_id, ack_log)
        assert done.wait(60)
        with open_store(store_url) as store:
            deadline = time.monotonic() + 60
            while store.reading_count() < len(msgs) and time.monotonic() < deadline:
                assert ingest.poll() is None, stderr_of(ack_log)
                time.sleep(0.05)
        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(30) == 0, stderr_of(ack_log)
        with open_store(store_url) as store:
            assert store.reading_count() == len(msgs)
            assert set(store.last_sequences().values()) == {STEPS}
            assert set(store.rejection_counts()) <= {"duplicate"}
            assert store.integrity_check() == []
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()
        pub_thread.join(60)
        publisher.close()
