"""Shared fixtures; real servers live in tests/servers.py."""

from mqtt_broker import mosquitto, telemetry_url  # noqa: F401
from servers import postgres_server, postgres_url, store, store_url  # noqa: F401
