"""The MQTT transport: paho-mqtt 2 against a real broker (Mosquitto), QoS 1, persistent session.

The client connects with ``clean_session=False`` (MQTT 3.1.1) under a stable ``client_id`` and
with manual acknowledgement: a PUBACK goes to the broker only when :meth:`Delivery.ack` is called.
The broker keeps the session's subscriptions, its queued messages and its unacknowledged ones
across disconnects and redelivers the latter (DUP flag set) when the same client id connects again.
That is what lets ingest acknowledge only after a reading is durably stored.

Broker settings that matter (see ``tests/mqtt_broker.py``): ``max_inflight_messages`` bounds how
many deliveries may wait for an ack at once (use at least ingest's batch size, e.g. 1000; the
Mosquitto default of 20 throttles batching), and ``max_queued_messages`` how many are kept for an
offline session (Mosquitto's default of 1000 drops the rest; raise it, or 0 for no limit).
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gridledger.devices.topics import topic_matches
from gridledger.errors import TelemetryError
from gridledger.telemetry.base import Delivery, Handler


class MqttTransport:
    """A paho-mqtt client with QoS 1, a persistent session and manual acknowledgement."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        max_inflight: int = 1000,
    ) -> None:
        if not client_id:
            raise TelemetryError("an MQTT client id is needed for a persistent session")
        self._client_id = client_id
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._subacks: set[int] = set()
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._connect_rc: str | None = None
        self._handlers: list[tuple[str, Handler]] = []
        self._early: list[mqtt.MQTTMessage] = []  # session messages that came before subscribe()
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._closed = False
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_unsubscribe = self._on_unsubscribe
        self._client = client
        try:
            client.connect(host, port, keepalive_s)
        except OSError as exc:
            raise TelemetryError(f"cannot connect to MQTT broker {host}:{port}: {exc}") from exc
        client.loop_start()
        if not self._connected.wait(connect_timeout_s):
            self._stop()
            raise TelemetryError(
                f"MQTT broker {host}:{port} did not accept the connection within "
                f"{connect_timeout_s} s ({self._connect_rc or 'no answer'})"
            )

    # -- paho callbacks (network thread) --------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: object,
        properties: object,
    ) -> None:
        if getattr(reason, "is_failure", False):
            self._connect_rc = str(reason)
            return
        with self._lock:
            filters = [f for f, _ in self._handlers]
        for topic_filter in filters:  # the session keeps them; re-subscribing is harmless
            client.subscribe(topic_filter, qos=1)
        self._connected.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:  # handlers run under the lock so deliveries keep their order
            handler = self._handler_for(msg.topic)
            if handler is None:
                self._early.append(msg)
            else:
                handler(self._delivery(msg))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: object,
        properties: object,
    ) -> None:
        self._disconnected.set()

    def _on_unsubscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: object, props: object
    ) -> None:
        with self._lock:
            self._subacks.add(mid)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: object, props: object
    ) -> None:
        with self._lock:
            self._subacks.add(mid)

    def _handler_for(self, topic: str) -> Handler | None:
        for topic_filter, handler in self._handlers:
            if topic_matches(topic_filter, topic):
                return handler
        return None

    def _delivery(self, msg: mqtt.MQTTMessage) -> Delivery:
        mid, qos = msg.mid, msg.qos

        def ack() -> None:
            if qos > 0:
                self._client.ack(mid, qos)

        return Delivery(msg.topic, bytes(msg.payload), bool(msg.dup), ack)

    # -- Transport -------------------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        return self._client_id

    def _check_open(self) -> None:
        if self._closed:
            raise TelemetryError(f"MQTT transport {self._client_id!r} is closed")

    def publish(self, topic: str, payload: bytes) -> None:
        self._check_open()
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise TelemetryError(f"MQTT publish to {topic!r} refused: {mqtt.error_string(info.rc)}")
        with self._lock:
            self._pending.append(info)
            if len(self._pending) > 4096:
                self._pending = [i for i in self._pending if not i.is_published()]

    def flush(self, timeout_s: float = 10.0) -> None:
        self._check_open()
        deadline = time.monotonic() + timeout_s
        with self._lock:
            pending, self._pending = self._pending, []
        for info in pending:
            while not info.is_published():
                if time.monotonic() > deadline:
                    raise TelemetryError(
                        f"MQTT broker {self._host}:{self._port} did not acknowledge publishes "
                        f"within {timeout_s} s"
                    )
                time.sleep(0.002)

    def subscribe(self, topic_filter: str, handler: Handler, timeout_s: float = 10.0) -> None:
        """Subscribe at QoS 1 and wait for the broker's SUBACK."""
        self._check_open()
        with self._lock:
            self._handlers.append((topic_filter, handler))
            early = [m for m in self._early if topic_matches(topic_filter, m.topic)]
            self._early = [m for m in self._early if not topic_matches(topic_filter, m.topic)]
            for msg in early:
                handler(self._delivery(msg))
        result, mid = self._client.subscribe(topic_filter, qos=1)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise TelemetryError(f"MQTT subscribe to {topic_filter!r} failed: {result}")
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if mid in self._subacks:
                    self._subacks.discard(mid)
                    return
            if time.monotonic() > deadline:
                raise TelemetryError(
                    f"MQTT broker did not confirm subscription to {topic_filter!r}"
                )
            time.sleep(0.002)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop()

    def _sync(self, timeout_s: float) -> bool:
        """Round trip to the broker: once it answers, it has processed every earlier packet.

        MQTT does not acknowledge a PUBACK; an UNSUBSCRIBE of a filter never subscribed costs
        nothing and its UNSUBACK comes after the broker has handled our earlier acknowledgements.
        """
        result, mid = self._client.unsubscribe(f"gridledger/_sync/{self._client_id}")
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if mid in self._subacks:
                    self._subacks.discard(mid)
                    return True
            time.sleep(0.002)
        return False

    def _stop(self, timeout_s: float = 5.0) -> None:
        # Closing a TCP socket that still has unread input (the broker keeps sending) resets the
        # connection, and the broker may then drop our last acknowledgements unread: confirm them
        # with a round trip first, then disconnect.
        try:
            if self._connected.is_set():
                self._sync(timeout_s)
                self._disconnected.clear()
                self._client.disconnect()
                self._disconnected.wait(timeout_s)
            else:
                self._client.disconnect()
        finally:
            self._client.loop_stop()

    def __enter__(self) -> MqttTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
