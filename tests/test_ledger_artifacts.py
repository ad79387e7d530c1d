"""The shipped contract artifacts match their Vyper sources byte for byte."""

from __future__ import annotations

import pytest

from gridledger.ledger.artifact import CONTRACT_NAMES, load_artifact
from gridledger.ledger.compile import compile_contract, source_sha256


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_matches_source(name: str) -> None:
    shipped = load_artifact(name)
    assert shipped.source_sha256 == source_sha256(name), (
        f"contracts/{name}.vy changed since its artifact was built; "
        "run `python -m gridledger.ledger.compile`"
    )
    fresh = compile_contract(name)
    assert shipped.abi == fresh.abi
    assert shipped.bytecode == fresh.bytecode, "recompiling gives different bytecode"


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_has_constructor_and_events(name: str) -> None:
    abi = load_artifact(name).abi
    assert any(item["type"] == "constructor" for item in abi)
    assert any(item["type"] == "event" for item in abi), "every state change emits an event"
