"""Shared fixtures; real servers live in tests/servers.py."""

from anvil import anvil_url, embedded_backend, ledger_backend, rpc_backend  # noqa: F401
from mqtt_broker import mosquitto, telemetry_url  # noqa: F401
from servers import postgres_server, postgres_url, store, store_url  # noqa: F401
