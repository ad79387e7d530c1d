"""Ledger test backends: an anvil node (started and stopped here) and the embedded chain.

Start and stop an anvil node (foundry, installed from npm by ``scripts/setup.sh --services``).

The node listens on a free 127.0.0.1 port, keeps no history (``--prune-history``: without it memory
grows by gigabytes over thousands of blocks) and runs the same rules as the embedded chain: chain
id 1337, Cancun, a 100M block gas limit and a zero base fee.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gridledger.ledger.backend import LedgerBackend

REPO_ROOT = Path(__file__).resolve().parent.parent
ANVIL_GAS_LIMIT = 100_000_000


def anvil_binary() -> str | None:
    """Path of the anvil binary: the project's ``.tools/anvil`` first, then ``$PATH``."""
    local = REPO_ROOT / ".tools" / "anvil"
    if local.exists():
        return str(local)
    return shutil.which("anvil")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running_anvil(chain_id: int = 1337, timeout_s: float = 15.0) -> Iterator[str]:
    """Run anvil for the duration of the block; yields its http URL."""
    binary = anvil_binary()
    if binary is None:
        raise RuntimeError(
            "anvil not found; run `scripts/setup.sh --services` (or `make services`)"
        )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(chain_id),
            "--hardfork",
            "cancun",
            "--gas-limit",
            str(ANVIL_GAS_LIMIT),
            "--base-fee",
            "0",
            "--gas-price",
            "0",
            "--prune-history",
            "--no-request-size-limit",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while not _answers(url):
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"anvil exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not answer on {url} within {timeout_s} s")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """URL of one anvil node shared by the whole test session; skipped when anvil is missing."""
    if anvil_binary() is None:
        pytest.skip("anvil not installed; run `make services`")
    with running_anvil() as url:
        yield url


# --- the backends the contract tests run on -------------------------------------------------

EMBEDDED_AVAILABLE = importlib.util.find_spec("gridledger.ledger.embedded") is not None

BACKEND_PARAMS = [
    "anvil",
    pytest.param(
        "embedded",
        marks=pytest.mark.skipif(
            not EMBEDDED_AVAILABLE, reason="gridledger.ledger.embedded is not there yet"
        ),
    ),
]


@pytest.fixture(scope="session")
def rpc_backend(anvil_url: str) -> Iterator[LedgerBackend]:
    from gridledger.ledger.rpc import RpcBackend

    backend = RpcBackend(anvil_url)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def embedded_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerBackend]:
    from gridledger.ledger.embedded import EmbeddedLedger

    path = tmp_path_factory.mktemp("chain") / "chain.sqlite"
    backend = EmbeddedLedger(path, chain_id=1337, gas_limit=ANVIL_GAS_LIMIT, synchronous="NORMAL")
    yield backend
    backend.close()


@pytest.fixture(scope="session", params=BACKEND_PARAMS)
def ledger_backend(request: pytest.FixtureRequest) -> LedgerBackend:
    """Each contract test runs once per backend."""
    name = "rpc_backend" if request.param == "anvil" else "embedded_backend"
    backend: LedgerBackend = request.getfixturevalue(name)
    return backend
