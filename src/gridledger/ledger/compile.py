"""Compile the Vyper contracts into the JSON artifacts shipped with the package.

``python -m gridledger.ledger.compile`` rewrites ``ledger/artifacts/<Name>.json`` from
``ledger/contracts/<Name>.vy``. Each artifact holds the ABI, the deployment bytecode, the SHA-256 of
the source and the compiler version; :func:`load_artifact` reads one at run time (no compiler
needed), and ``tests/test_ledger_artifacts.py`` fails when an artifact no longer matches its source.
Compiler settings (EVM version ``cancun``, gas optimisation) are pragmas in each source, so the
same bytes come out anywhere: py-evm, anvil and PoA nodes all run them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gridledger.errors import LedgerError

CONTRACTS_DIR = Path(__file__).parent / "contracts"
ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
#: The contracts, in deployment order.
CONTRACT_NAMES = ("Registry", "Token", "RegionMarket")
VYPER_VERSION = "0.4.3"


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


def source_sha256(name: str) -> str:
    """SHA-256 (hex) of the contract source ``contracts/<name>.vy``."""
    return hashlib.sha256((CONTRACTS_DIR / f"{name}.vy").read_bytes()).hexdigest()


def compile_contract(name: str) -> Artifact:
    """Compile ``contracts/<name>.vy`` with the pinned Vyper (needs the ``vyper`` package)."""
    import vyper

    if vyper.__version__.split("+")[0] != VYPER_VERSION:
        raise LedgerError(
            f"contracts are pinned to vyper {VYPER_VERSION}, found {vyper.__version__}; "
            f"install it with `pip install vyper=={VYPER_VERSION}`"
        )
    source = (CONTRACTS_DIR / f"{name}.vy").read_text()
    out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    return Artifact(
        name=name,
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        source_sha256=source_sha256(name),
        compiler=f"vyper {VYPER_VERSION}",
    )


def write_artifacts(names: tuple[str, ...] = CONTRACT_NAMES) -> list[Path]:
    """Compile ``names`` and write their artifacts; returns the paths written."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    paths = []
    for name in names:
        path = ARTIFACTS_DIR / f"{name}.json"
        path.write_text(json.dumps(compile_contract(name).to_json(), indent=1) + "\n")
        paths.append(path)
    return paths


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


def main(argv: list[str] | None = None) -> int:
    names = tuple(argv if argv else sys.argv[1:]) or CONTRACT_NAMES
    for path in write_artifacts(names):
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
