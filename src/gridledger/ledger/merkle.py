"""Sorted-pair Keccak Merkle trees, compatible with OpenZeppelin's ``StandardMerkleTree``.

A slot's orders, trades and meter readings stay off the chain (in the store); the settlement
contract records the root of each set. Anyone holding one item and its proof can check it against
the root on the chain, and a Solidity/Vyper contract can too with OpenZeppelin's
``MerkleProof.verify`` (pairs are hashed in sorted order, so a proof is a plain list of siblings).

Leaves are double-hashed as in ``StandardMerkleTree``:
``leaf = keccak(keccak(abi_encode(values)))``, so a leaf can never be mistaken for an inner
node. For the three kinds of leaf:

* order: ``keccak(order_id)`` where ``order_id`` is the EIP-712 struct hash of the order
  (itself ``keccak(abi_encode(typehash, fields...))``);
* trade: ``keccak(trade_hash)`` where ``trade_hash = keccak(abi_encode(bid_id, ask_id, buyer,
  seller, energy_wh, price_micro_per_kwh, fee_micro))``, the same hash the contract folds into the
  slot's ``trades_hash``;
* reading: ``keccak(keccak(payload))`` of the reading's canonical bytes
  (:func:`reading_leaf`), or of ``abi_encode(account, slot, import_wh, export_wh)`` via
  :func:`meter_leaf`.

The tree layout is OpenZeppelin's: leaves sorted, stored at the end of one array, each inner node
``hash_pair(left, right)``. The root of an empty set is 32 zero bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gridledger.errors import ValidationError, VerificationError
from gridledger.identity import keccak

EMPTY_ROOT = bytes(32)


def hash_pair(a: bytes, b: bytes) -> bytes:
    """``keccak(min(a, b) || max(a, b))``: the commutative inner-node hash."""
    return keccak(a + b if a < b else b + a)


def _word(value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) > 32:
            raise ValidationError(f"a leaf value is at most 32 bytes, got {len(value)}")
        # addresses (20 bytes) are left-padded, as abi_encode does
        return value.rjust(32, b"\0") if len(value) == 20 else value.ljust(32, b"\0")
    return value.to_bytes(32)


def order_leaf(order_id: bytes) -> bytes:
    """Merkle leaf of an order, from its id (EIP-712 struct hash)."""
    return keccak(order_id)


def trade_hash(
    bid_id: bytes,
    ask_id: bytes,
    buyer: bytes,
    seller: bytes,
    energy_wh: int,
    price_micro_per_kwh: int,
    fee_micro: int,
) -> bytes:
    """The hash the contract computes for a trade and folds into the slot's ``trades_hash``."""
    return keccak(
        b"".join(
            _word(v)
            for v in (bid_id, ask_id, buyer, seller, energy_wh, price_micro_per_kwh, fee_micro)
        )
    )


def trade_leaf(trade_hash_: bytes) -> bytes:
    """Merkle leaf of a trade, from its :func:`trade_hash`."""
    return keccak(trade_hash_)


def reading_leaf(payload: bytes) -> bytes:
    """Merkle leaf of a meter reading, from its canonical bytes (e.g. the signed message)."""
    return keccak(keccak(payload))


def meter_leaf(account: bytes, slot: int, import_wh: int, export_wh: int) -> bytes:
    """Merkle leaf of one account's metered energy in a slot (the delivery settlement's input)."""
    return reading_leaf(b"".join(_word(v) for v in (account, slot, import_wh, export_wh)))


def fold_trades_hash(previous: bytes, trade_hashes: Iterable[bytes]) -> bytes:
    """The contract's running ``trades_hash``: ``h = keccak(h || trade_hash)`` from zero."""
    h = previous
    for t in trade_hashes:
        h = keccak(h + t)
    return h


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf``."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows ``leaf`` under ``root`` (OpenZeppelin ``MerkleProof.verify``)."""
    return process_proof(leaf, proof) == root


def require_proof(root: bytes, leaf: bytes, proof: Sequence[bytes], what: str = "leaf") -> None:
    """Raise :class:`VerificationError` unless ``proof`` shows ``leaf`` under ``root``."""
    if not verify_proof(root, leaf, proof):
        raise VerificationError(
            f"{what} 0x{leaf.hex()} is not under the root 0x{root.hex()} recorded on the chain"
        )


@dataclass(frozen=True)
class MerkleTree:
    """An OpenZeppelin-layout tree over leaf hashes (sorted; duplicates kept)."""

    nodes: tuple[bytes, ...]
    leaf_count: int

    @classmethod
    def build(cls, leaves: Iterable[bytes]) -> MerkleTree:
        ordered = sorted(leaves)
        for leaf in ordered:
            if len(leaf) != 32:
                raise ValidationError(f"a Merkle leaf is 32 bytes, got {len(leaf)}")
        n = len(ordered)
        if n == 0:
            return cls((), 0)
        nodes: list[bytes] = [b""] * (2 * n - 1)
        for i, leaf in enumerate(ordered):
            nodes[len(nodes) - 1 - i] = leaf
        for i in range(n - 2, -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        return cls(tuple(nodes), n)

    @property
    def root(self) -> bytes:
        return self.nodes[0] if self.nodes else EMPTY_ROOT

    def _index(self, leaf: bytes) -> int:
        # leaves sit at the end of the array in descending position order
        try:
            return self.nodes.index(leaf, self.leaf_count - 1)
        except ValueError:
            raise ValidationError(f"0x{leaf.hex()} is not a leaf of this tree") from None

    def proof(self, leaf: bytes) -> list[bytes]:
        """Sibling hashes from ``leaf`` up to the root."""
        i = self._index(leaf)
        path: list[bytes] = []
        while i > 0:
            sibling = i - 1 if i % 2 == 0 else i + 1
            path.append(self.nodes[sibling])
            i = (i - 1) // 2
        return path


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """Root of the tree over ``leaves`` (:data:`EMPTY_ROOT` when there are none)."""
    return MerkleTree.build(leaves).root
