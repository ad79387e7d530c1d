"""Run a local anvil node: the JSON-RPC chain the tests and benchmarks compare against.

anvil (foundry) comes from the npm registry (``scripts/setup.sh --services`` installs it into the
checkout's ``.tools/``). :func:`running_anvil` starts it on a free 127.0.0.1 port with the embedded
chain's rules (chain id 1337 by default, Cancun, a 100M block gas limit, a zero base fee), keeps no
history (``--prune-history``: without it memory grows by gigabytes over thousands of blocks), and
stops it when the block ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gridledger.errors import LedgerError

REPO_ROOT = Path(__file__).resolve().parents[3]
ANVIL_GAS_LIMIT = 100_000_000


def anvil_binary() -> str | None:
    """The anvil binary: ``$GRIDLEDGER_ANVIL``, else the checkout's ``.tools/anvil``, else $PATH."""
    env = os.environ.get("GRIDLEDGER_ANVIL")
    if env:
        return env
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
        raise LedgerError(
            "anvil not found; run `make services` (installs it from npm into .tools/) or set "
            "GRIDLEDGER_ANVIL to its path"
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
                raise LedgerError(f"anvil exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise LedgerError(f"anvil did not answer on {url} within {timeout_s} s")
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
