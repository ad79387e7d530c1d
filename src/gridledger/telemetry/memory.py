"""The in-process transport: a tiny broker with persistent sessions, for one Python process.

It has the same at-least-once semantics as MQTT QoS 1 with persistent sessions: messages for a
subscribed session are queued while it is offline, a delivery stays in flight until acknowledged,
and closing a transport puts its unacknowledged deliveries back at the head of its session's queue,
flagged ``redelivered``, for the next transport with the same ``client_id``. Handlers run on the
publisher's thread. Brokers are named (``memory://NAME``) and live as long as the process.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from gridledger.devices.topics import topic_matches
from gridledger.errors import TelemetryError
from gridledger.telemetry.base import Delivery, Handler


@dataclass
class _Session:
    filters: list[str] = field(default_factory=list)
    queue: deque[tuple[str, bytes, bool]] = field(default_factory=deque)
    inflight: OrderedDict[int, tuple[str, bytes]] = field(default_factory=OrderedDict)
    owner: MemoryTransport | None = None


class MemoryBroker:
    """Sessions by client id; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sessions: dict[str, _Session] = {}
        self._ids = itertools.count(1)

    def publish(self, topic: str, payload: bytes) -> None:
        with self.lock:
            for session in self.sessions.values():
                if any(topic_matches(f, topic) for f in session.filters):
                    session.queue.append((topic, payload, False))
                    self._pump(session)

    def _pump(self, session: _Session) -> None:
        owner = session.owner
        while owner is not None and owner.handlers and session.queue:
            topic, payload, redelivered = session.queue.popleft()
            handler = owner.handler_for(topic)
            if handler is None:
                continue
            mid = next(self._ids)
            session.inflight[mid] = (topic, payload)
            handler(
                Delivery(topic, payload, redelivered, functools.partial(self._ack, session, mid))
            )

    def _ack(self, session: _Session, mid: int) -> None:
        with self.lock:
            session.inflight.pop(mid, None)


_BROKERS: dict[str, MemoryBroker] = {}
_BROKERS_LOCK = threading.Lock()


def get_broker(name: str = "default") -> MemoryBroker:
    """The process-wide broker called ``name`` (created on first use)."""
    with _BROKERS_LOCK:
        return _BROKERS.setdefault(name, MemoryBroker())


class MemoryTransport:
    """A client of an in-process :class:`MemoryBroker`."""

    def __init__(self, client_id: str, broker: str | MemoryBroker = "default") -> None:
        self._client_id = client_id
        self._broker = broker if isinstance(broker, MemoryBroker) else get_broker(broker)
        self.handlers: list[tuple[str, Handler]] = []
        self._closed = False
        with self._broker.lock:
            session = self._broker.sessions.setdefault(client_id, _Session())
            if session.owner is not None:
                raise TelemetryError(f"client id {client_id!r} is already connected")
            session.owner = self
            self._session = session

    @property
    def client_id(self) -> str:
        return self._client_id

    def handler_for(self, topic: str) -> Handler | None:
        for topic_filter, handler in self.handlers:
            if topic_matches(topic_filter, topic):
                return handler
        return None

    def _check_open(self) -> None:
        if self._closed:
            raise TelemetryError(f"transport {self._client_id!r} is closed")

    def publish(self, topic: str, payload: bytes) -> None:
        self._check_open()
        if not isinstance(payload, bytes | bytearray):
            raise TelemetryError("a payload is bytes")
        self._broker.publish(topic, bytes(payload))

    def flush(self, timeout_s: float = 10.0) -> None:
        self._check_open()

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        self._check_open()
        with self._broker.lock:
            if topic_filter not in self._session.filters:
                self._session.filters.append(topic_filter)
            self.handlers.append((topic_filter, handler))
            self._broker._pump(self._session)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._broker.lock:
            session = self._session
            session.queue.extendleft(
                (t, p, True) for t, p in reversed(list(session.inflight.values()))
            )
            session.inflight.clear()
            session.owner = None

    def __enter__(self) -> MemoryTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
