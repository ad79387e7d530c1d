from __future__ import annotations

import contextlib
import queue
import time
import uuid

import pytest

from gridledger.devices import Accumulator, Action, Command
from gridledger.errors import CommandError, TelemetryError
from gridledger.identity import Domain, Signer
from gridledger.telemetry import (
    Delivery,
    Site,
    open_transport,
    parse_topic,
    readings_filter,
    topic,
    topic_matches,
)

DOMAIN = Domain(1337)


def drain(inbox: queue.Queue[Delivery], want: int, timeout_s: float = 5.0) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            got.append(inbox.get(timeout=0.05))
    return got


def quiet(inbox: queue.Queue[Delivery], wait_s: float = 0.3) -> list[Delivery]:
    got: list[Delivery] = []
    try:
        while True:
            got.append(inbox.get(timeout=wait_s))
    except queue.Empty:
        return got


def test_topic_scheme() -> None:
    name = topic("north", "s1", "s1-pv", "readings")
    assert name == "gridledger/north/s1/s1-pv/readings"
    assert parse_topic(name) == ("north", "s1", "s1-pv", "readings")
    assert parse_topic("gridledger/north/s1/readings") is None
    assert topic_matches(readings_filter(), name)
    assert topic_matches(readings_filter("north"), name)
    assert not topic_matches(readings_filter("south"), name)
    assert not topic_matches("gridledger/+/+/+/commands", name)
    assert topic_matches("gridledger/#", name)
    with pytest.raises(TelemetryError, match="topic level"):
        topic("north", "s/1", "d", "readings")
    with pytest.raises(TelemetryError, match="topic level"):
        topic("north", "+", "d", "readings")


def test_open_transport_refuses_unknown_urls() -> None:
    with pytest.raises(TelemetryError, match="unsupported"):
        open_transport("amqp://x", "c")
    with pytest.raises(TelemetryError, match="HOST:PORT"):
        open_transport("mqtt://nohost", "c")


def test_mqtt_connection_refused_is_a_telemetry_error() -> None:
    from mqtt_broker import free_port

    with pytest.raises(TelemetryError, match="cannot connect"):
        open_transport(f"mqtt://127.0.0.1:{free_port()}", "c")


def test_publish_subscribe_in_order(telemetry_url: str) -> None:
    inbox: queue.Queue[Delivery] = queue.Queue()
    sub = open_transport(telemetry_url, f"sub-{uuid.uuid4().hex[:8]}")
    pub = open_transport(telemetry_url, f"pub-{uuid.uuid4().hex[:8]}")
    try:
        sub.subscribe(readings_filter("north"), inbox.put)
        for i in range(200):
            pub.publish(topic("north", "s1", f"d{i % 3}", "readings"), i.to_bytes(2))
        pub.publish(topic("south", "s1", "d", "readings"), b"not for us")
        pub.flush()
        got = drain(inbox, 200)
        assert [int.from_bytes(d.payload) for d in got] == list(range(200))
        for d in got:
            d.ack()
        assert quiet(inbox) == []
    finally:
        pub.close()
        sub.close()


def test_unacknowledged_messages_are_redelivered_to_the_same_session(telemetry_url: str) -> None:
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"
    pub = open_transport(telemetry_url, f"pub-{uuid.uuid4().hex[:8]}")
    inbox: queue.Queue[Delivery] = queue.Queue()
    sub = open_transport(telemetry_url, client_id)
    sub.subscribe(readings_filter(), inbox.put)
    name = topic("north", "s1", "d", "readings")
    for i in range(50):
        pub.publish(name, i.to_bytes(2))
    pub.flush()
    first = drain(inbox, 50)
    assert len(first) == 50
    for d in first[:20]:
        d.ack()
    sub.close()  # 30 delivered but never acknowledged
    for i in range(50, 60):  # published while the subscriber is offline: queued in its session
        pub.publish(name, i.to_bytes(2))
    pub.flush()
    inbox2: queue.Queue[Delivery] = queue.Queue()
    sub = open_transport(telemetry_url, client_id)
    try:
        sub.subscribe(readings_filter(), inbox2.put)
        again = drain(inbox2, 40)
        assert sorted(int.from_bytes(d.payload) for d in again) == list(range(20, 60))
        assert all(d.redelivered for d in again[:30])
        for d in again:
            d.ack()
        assert quiet(inbox2) == []
    finally:
        sub.close()
        pub.close()


def test_accumulator_commands_over_the_transport(telemetry_url: str) -> None:
    owner = Signer.generate()
    site = Site.household("s9", "north", owner)
    acc = site.find(Accumulator)
    assert isinstance(acc, Accumulator)
    cmd_topic = topic("north", "s9", acc.device_id, "commands")
    outcomes: list[str] = []

    def on_command(delivery: Delivery) -> None:
        try:
            acc.apply_command(delivery.payload, DOMAIN, now_s=int(time.time()))
            outcomes.append("ok")
        except CommandError as exc:
            outcomes.append(str(exc).split()[0])
        delivery.ack()

    device_side = open_transport(telemetry_url, f"dev-{uuid.uuid4().hex[:8]}")
    owner_side = open_transport(telemetry_url, f"app-{uuid.uuid4().hex[:8]}")
    try:
        device_side.subscribe(cmd_topic, on_command)
        good = Command("north", acc.address, owner.address_bytes, 1, Action.SET_RESERVE_SOC, 250)
        payload = good.sign(owner, DOMAIN)
        owner_side.publish(cmd_topic, payload)
        owner_side.publish(cmd_topic, payload)  # replay
        owner_side.publish(cmd_topic, good.sign(Signer.generate(), DOMAIN))  # foreign key
        owner_side.publish(cmd_topic, payload[:-65] + bytes(65))  # unsigned
        owner_side.flush()
        deadline = time.monotonic() + 5
        while len(outcomes) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert outcomes[0] == "ok" and len(outcomes) == 4
        assert "ok" not in outcomes[1:]
        assert acc.reserve_soc_permille == 250 and acc.last_nonce == 1
    finally:
        owner_side.close()
        device_side.close()


def test_memory_client_id_is_exclusive() -> None:
    url = f"memory://{uuid.uuid4().hex}"
    first = open_transport(url, "same")
    with pytest.raises(TelemetryError, match="already connected"):
        open_transport(url, "same")
    first.close()
    open_transport(url, "same").close()


def test_broker_restart_keeps_sessions_and_queued_messages() -> None:
    """Mosquitto's persistence: a persistent session and its queued QoS 1 messages survive."""
    from mqtt_broker import MosquittoBroker, mosquitto_binary

    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed")
    broker = MosquittoBroker()
    try:
        sub = open_transport(broker.url, "ingest-persist")
        sub.subscribe(readings_filter(), lambda d: None)
        sub.close()
        pub = open_transport(broker.url, "gateway-persist")
        for i in range(20):
            pub.publish(topic("north", "s1", "d", "readings"), i.to_bytes(2))
        pub.flush()
        pub.close()
        broker.restart()
        inbox: queue.Queue[Delivery] = queue.Queue()
        sub = open_transport(broker.url, "ingest-persist")
        try:
            sub.subscribe(readings_filter(), inbox.put)
            got = drain(inbox, 20)
            assert [int.from_bytes(d.payload) for d in got] == list(range(20))
            for d in got:
                d.ack()
        finally:
            sub.close()
    finally:
        broker.stop()
