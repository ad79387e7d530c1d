"""Compile the Vyper contracts into the JSON artifacts shipped with the package.

``python -m gridledger.ledger.compile`` rewrites ``ledger/artifacts/<Name>.json`` from
``ledger/contracts/<Name>.vy``. Each artifact holds the ABI, the deployment bytecode, the SHA-256 of
the source and the compiler version; :func:`gridledger.ledger.artifact.load_artifact` reads one at
run time (no compiler needed), and ``tests/test_ledger_artifacts.py`` fails when an artifact no
longer matches its source.
Compiler settings (EVM version ``cancun``, gas optimisation) are pragmas in each source, so the
same bytes come out anywhere: py-evm, anvil and PoA nodes all run them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from gridledger.errors import LedgerError
from gridledger.ledger.artifact import (
    ARTIFACTS_DIR,
    CONTRACT_NAMES,
    CONTRACTS_DIR,
    Artifact,
)

VYPER_VERSION = "0.4.3"


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


def main(argv: list[str] | None = None) -> int:
    names = tuple(argv if argv else sys.argv[1:]) or CONTRACT_NAMES
    for path in write_artifacts(names):
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
