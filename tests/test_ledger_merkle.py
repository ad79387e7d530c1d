"""Sorted-pair Merkle trees: OpenZeppelin compatibility, proofs, leaf kinds."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode as abi_encode
from hypothesis import given
from hypothesis import strategies as st

from gridledger.errors import ValidationError, VerificationError
from gridledger.identity import keccak
from gridledger.ledger import merkle

leaves = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40)


def test_openzeppelin_standard_merkle_tree_vector() -> None:
    """The README example of @openzeppelin/merkle-tree: (address, uint256) leaves."""
    values = [
        ("0x1111111111111111111111111111111111111111", 5_000_000_000_000_000_000),
        ("0x2222222222222222222222222222222222222222", 2_500_000_000_000_000_000),
    ]
    leaf_hashes = [keccak(keccak(abi_encode(["address", "uint256"], list(v)))) for v in values]
    root = merkle.merkle_root(leaf_hashes)
    assert root.hex() == "d4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"


@given(leaves)
def test_every_leaf_has_a_proof(items: list[bytes]) -> None:
    tree = merkle.MerkleTree.build(items)
    for leaf in items:
        proof = tree.proof(leaf)
        assert merkle.verify_proof(tree.root, leaf, proof)
        assert len(proof) <= len(items).bit_length()


@given(leaves, st.data())
def test_a_changed_leaf_fails(items: list[bytes], data: st.DataObject) -> None:
    tree = merkle.MerkleTree.build(items)
    leaf = data.draw(st.sampled_from(items))
    flipped = bytes([leaf[0] ^ 1]) + leaf[1:]
    if flipped in items:
        return
    assert not merkle.verify_proof(tree.root, flipped, tree.proof(leaf))
    with pytest.raises(VerificationError):
        merkle.require_proof(tree.root, flipped, tree.proof(leaf), "reading")


@given(leaves, st.randoms())
def test_root_does_not_depend_on_leaf_order(items: list[bytes], rng: object) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert merkle.merkle_root(items) == merkle.merkle_root(shuffled)


def test_empty_and_single() -> None:
    assert merkle.merkle_root([]) == merkle.EMPTY_ROOT
    leaf = keccak(b"x")
    assert merkle.merkle_root([leaf]) == leaf
    assert merkle.MerkleTree.build([leaf]).proof(leaf) == []
    with pytest.raises(ValidationError):
        merkle.MerkleTree.build([leaf]).proof(keccak(b"y"))
    with pytest.raises(ValidationError):
        merkle.MerkleTree.build([b"short"])


def test_leaf_kinds_match_abi_encoding() -> None:
    account, slot = b"\x11" * 20, 1_767_225_600
    assert merkle.meter_leaf(account, slot, 5, 7) == keccak(
        keccak(abi_encode(["address", "uint64", "uint64", "uint64"], [account, slot, 5, 7]))
    )
    bid, ask = keccak(b"bid"), keccak(b"ask")
    expected = keccak(
        abi_encode(
            ["bytes32", "bytes32", "address", "address", "uint64", "uint64", "uint256"],
            [bid, ask, account, b"\x22" * 20, 10, 20, 30],
        )
    )
    assert merkle.trade_hash(bid, ask, account, b"\x22" * 20, 10, 20, 30) == expected
    assert merkle.trade_leaf(expected) == keccak(expected)
    assert merkle.fold_trades_hash(bytes(32), [expected]) == keccak(bytes(32) + expected)
