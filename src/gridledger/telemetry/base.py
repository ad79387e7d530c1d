"""The one interface of a telemetry transport, and how to open one from a URL.

A transport moves opaque payloads between publishers and subscribers by topic
(:mod:`gridledger.devices.topics`). Delivery is **at least once** (MQTT QoS 1):

* :meth:`Transport.publish` hands a payload over; :meth:`Transport.flush` waits until the broker
  has accepted everything published so far.
* A subscriber receives :class:`Delivery` objects and must call :meth:`Delivery.ack` once it is done
  with one (ingest does so only after the reading is durably stored). A delivery that is never
  acknowledged, because the subscriber crashed or closed first, is delivered again, flagged
  ``redelivered``, when a subscriber with the same ``client_id`` connects again: sessions are
  persistent. So a subscriber must tolerate duplicates; it never loses an acknowledged message's
  effect if it acknowledges only after that effect is durable.
* Acknowledge in the order of delivery (MQTT requires it).

``memory://[NAME]`` is an in-process broker (the embedded default); ``mqtt://HOST:PORT`` a real
MQTT broker (:class:`~gridledger.telemetry.mqtt.MqttTransport`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(slots=True)
class Delivery:
    """One received message. Call :meth:`ack` once its effect is durable."""

    topic: str
    payload: bytes
    redelivered: bool = False
    _ack: Callable[[], None] | None = field(default=None, repr=False)

    def ack(self) -> None:
        """Acknowledge: the transport will not deliver this message again. Idempotent."""
        ack, self._ack = self._ack, None
        if ack is not None:
            ack()


Handler = Callable[[Delivery], None]


@runtime_checkable
class Transport(Protocol):
    """Publish/subscribe with at-least-once delivery and explicit acknowledgement."""

    @property
    def client_id(self) -> str: ...

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue ``payload`` for ``topic`` at QoS 1; raise :class:`TelemetryError` if refused."""
        ...

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every publish so far is accepted by the broker; TelemetryError on timeout."""
        ...

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Deliver messages matching ``topic_filter`` to ``handler`` (on a transport thread)."""
        ...

    def close(self) -> None:
        """Disconnect; unacknowledged deliveries stay in the session for the next connection."""
        ...
