"""Shared fixtures; real servers live in tests/servers.py."""

from servers import postgres_server, postgres_url, store, store_url  # noqa: F401
