"""Shared fixtures; real servers live in tests/servers.py."""

import os

import pytest
from anvil import anvil_url, embedded_backend, ledger_backend, rpc_backend  # noqa: F401
from hypothesis import settings
from mqtt_broker import mosquitto, telemetry_url  # noqa: F401
from servers import postgres_server, postgres_url, store, store_url  # noqa: F401

# A CI machine shared with other jobs can stall any one example past Hypothesis's 200 ms default;
# a deadline failure there says nothing about correctness, and speed is the benchmarks' job.
settings.register_profile("gridledger", deadline=None)
settings.load_profile("gridledger")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak", action="store_true", help="long soak/fuzz runs (same as GRIDLEDGER_SOAK=1)"
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--soak"):
        os.environ["GRIDLEDGER_SOAK"] = "1"
