"""Compiled contract artifacts shipped with the package: ABI, bytecode, source hash.

``ledger/artifacts/<Name>.json`` is written by :mod:`gridledger.ledger.compile` from
``ledger/contracts/<Name>.vy``; :func:`load_artifact` reads one at run time (no compiler needed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gridledger.errors import LedgerError

CONTRACTS_DIR = Path(__file__).parent / "contracts"
ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
#: The contracts, in deployment order.
CONTRACT_NAMES = ("Registry", "Token", "RegionMarket")


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: ABI, deployment bytecode and the hash of the source it came from."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    source_sha256: str
    compiler: str

    def to_json(self) -> dict[str, Any]:
        return {
            "contract_name": self.name,
            "compiler": self.compiler,
            "source_sha256": self.source_sha256,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
        }


@cache
def load_artifact(name: str) -> Artifact:
    """The shipped artifact of contract ``name`` (cached)."""
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LedgerError(
            f"no compiled artifact for {name!r} at {path}; "
            "run `python -m gridledger.ledger.compile`"
        ) from None
    return Artifact(
        name=data["contract_name"],
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
        source_sha256=data["source_sha256"],
        compiler=data["compiler"],
    )
