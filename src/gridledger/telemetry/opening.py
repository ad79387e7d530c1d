"""Open a transport by URL: the factory over the in-process and MQTT transports.

It lives apart from :mod:`~gridledger.telemetry.base` so the interface never imports its own
implementations (which import it).
"""

from __future__ import annotations

from gridledger.errors import TelemetryError
from gridledger.telemetry.base import Transport


def open_transport(url: str, client_id: str) -> Transport:
    """Open the transport named by a ``telemetry_url`` setting (``memory://`` or ``mqtt://H:P``).

    ``client_id`` names the persistent session: reconnecting with the same id resumes it.
    """
    if url.startswith("memory://"):
        from gridledger.telemetry.memory import MemoryTransport

        return MemoryTransport(client_id, broker=url.removeprefix("memory://") or "default")
    if url.startswith("mqtt://"):
        from gridledger.telemetry.mqtt import MqttTransport

        hostport = url.removeprefix("mqtt://").rstrip("/")
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise TelemetryError(f"telemetry URL {url!r} must be mqtt://HOST:PORT")
        return MqttTransport(host, int(port), client_id)
    raise TelemetryError(
        f"unsupported telemetry URL {url!r}; use memory:// (in process) or mqtt://HOST:PORT"
    )
