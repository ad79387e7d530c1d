"""Ledger test backends: an anvil node and the embedded chain, each shared by the session.

anvil (installed from npm by ``scripts/setup.sh --services``) is started on a free 127.0.0.1 port
with ``--prune-history`` and the embedded chain's rules by :func:`gridledger.chain.devnode.
running_anvil`, and stopped at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from gridledger.chain.backend import LedgerBackend
from gridledger.chain.devnode import ANVIL_GAS_LIMIT, anvil_binary, running_anvil


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """URL of one anvil node shared by the whole test session; skipped (or failed, with
    ``GRIDLEDGER_REQUIRE_ANVIL=1``, as ``make test`` sets) when anvil is missing."""
    if anvil_binary() is None:
        reason = "anvil not installed; run `make services`"
        if os.environ.get("GRIDLEDGER_REQUIRE_ANVIL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with running_anvil() as url:
        yield url


# --- the backends the contract tests run on -------------------------------------------------

BACKEND_PARAMS = ["anvil", "embedded"]


@pytest.fixture(scope="session")
def rpc_backend(anvil_url: str) -> Iterator[LedgerBackend]:
    from gridledger.chain.rpc import RpcBackend

    backend = RpcBackend(anvil_url)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def embedded_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerBackend]:
    from gridledger.chain.embedded.node import EmbeddedLedger

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
