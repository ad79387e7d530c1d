"""Integrity checks of an embedded chain file: header chain, state trie and (optionally) a replay.

:func:`verify_embedded_chain` checks, without trusting any cached value:

* every header from the head back to genesis hashes to the key it is stored under, links to its
  parent and is the canonical block of its number; genesis is the one the chain was created with;
* the head's state trie is complete: every node reachable from the head's state root is present
  and hashes to its reference, every account's storage trie too, and every contract's code;
* with ``replay=True``: every block is re-executed from genesis in a fresh in-memory chain, which
  re-derives each state root, receipt root and block hash, and the log index of the SQLite file
  matches the receipts block by block. This costs about as much as mining the chain did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rlp
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound
from eth_typing import BlockNumber

from gridledger.chain.embedded.vm import chain_class, genesis_params, genesis_state
from gridledger.errors import VerificationError
from gridledger.identity import keccak

if TYPE_CHECKING:
    from gridledger.chain.embedded.node import EmbeddedLedger

_BLANK_ROOT = keccak(rlp.encode(b""))
_EMPTY_CODE_HASH = keccak(b"")


@dataclass(frozen=True)
class ChainCheck:
    """What :func:`verify_embedded_chain` looked at."""

    head_number: int
    head_hash: bytes
    state_root: bytes
    accounts: int
    storage_slots: int
    trie_nodes: int
    replayed_blocks: int


class _TrieWalker:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.nodes = 0

    def leaves(self, root: bytes) -> list[bytes]:
        """Values of every leaf under ``root``, checking every node's hash on the way."""
        if root == _BLANK_ROOT:
            return []
        out: list[bytes] = []
        self._walk(self._load(root), out)
        return out

    def _load(self, ref: bytes) -> Any:
        try:
            encoded = self.db[ref]
        except KeyError:
            raise VerificationError(f"trie node 0x{ref.hex()} is missing") from None
        if keccak(encoded) != ref:
            raise VerificationError(f"trie node 0x{ref.hex()} does not hash to its key")
        self.nodes += 1
        return rlp.decode(encoded)

    def _child(self, ref: Any, out: list[bytes]) -> None:
        if ref == b"":
            return
        if isinstance(ref, list):  # node embedded in its parent (< 32 bytes)
            self._walk(ref, out)
        else:
            self._walk(self._load(ref), out)

    def _walk(self, node: Any, out: list[bytes]) -> None:
        if len(node) == 17:
            for ref in node[:16]:
                self._child(ref, out)
            if node[16]:
                out.append(node[16])
        elif len(node) == 2:
            if node[0][0] >> 4 in (2, 3):  # hex-prefix flag: leaf
                out.append(node[1])
            else:
                self._child(node[1], out)
        else:
            raise VerificationError(f"malformed trie node with {len(node)} items")


def verify_embedded_chain(ledger: EmbeddedLedger, replay: bool = False) -> ChainCheck:
    """Check the chain file behind ``ledger``; raises ``VerificationError`` at the first fault.

    Anything py-evm raises while reading a damaged file (a missing trie node, a block it cannot
    decode) is that fault too.
    """
    try:
        return _verify(ledger, replay)
    except VerificationError:
        raise
    except Exception as exc:  # py-evm's and rlp's many error types: all mean "damaged"
        raise VerificationError(
            f"the embedded chain file is damaged: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc


def _verify(ledger: EmbeddedLedger, replay: bool) -> ChainCheck:
    chain = ledger._chain
    db = ledger._kv
    head = chain.get_canonical_head()
    header = head
    while True:
        encoded = rlp.encode(header)
        if keccak(encoded) != header.hash:
            raise VerificationError(f"block #{header.block_number} does not hash to its key")
        try:
            canonical = chain.chaindb.get_canonical_block_hash(BlockNumber(header.block_number))
        except HeaderNotFound:
            canonical = None
        if canonical != header.hash:
            raise VerificationError(f"block #{header.block_number} is not the canonical one")
        if header.block_number == 0:
            break
        try:
            parent = chain.chaindb.get_block_header_by_hash(header.parent_hash)
        except HeaderNotFound:
            raise VerificationError(
                f"the parent of block #{header.block_number} (0x{header.parent_hash.hex()}) "
                "is missing"
            ) from None
        if parent.block_number != header.block_number - 1:
            raise VerificationError(f"block #{header.block_number} links to a wrong parent")
        header = parent
    if header.hash != ledger.genesis_hash or header.hash != db.get_meta("genesis_hash"):
        raise VerificationError("the genesis block differs from the one the chain was created with")

    walker = _TrieWalker(db)
    accounts = walker.leaves(head.state_root)
    slots = 0
    for encoded_account in accounts:
        _nonce, _balance, storage_root, code_hash = rlp.decode(encoded_account)
        slots += len(walker.leaves(storage_root))
        if code_hash != _EMPTY_CODE_HASH:
            code = db.get(code_hash)
            if code is None or keccak(code) != code_hash:
                raise VerificationError(f"contract code 0x{code_hash.hex()} is missing or damaged")

    replayed = _replay(ledger, head.block_number) if replay else 0
    return ChainCheck(
        head_number=int(head.block_number),
        head_hash=bytes(head.hash),
        state_root=bytes(head.state_root),
        accounts=len(accounts),
        storage_slots=slots,
        trie_nodes=walker.nodes,
        replayed_blocks=replayed,
    )


def _replay(ledger: EmbeddedLedger, head_number: int) -> int:
    stored = ledger._chain
    fresh_db = AtomicDB()
    fresh = chain_class(ledger.chain_id).from_genesis(
        fresh_db, genesis_params(ledger.chain_id, ledger.block_gas_limit()), genesis_state()
    )
    for number in range(1, head_number + 1):
        block = stored.get_canonical_block_by_number(BlockNumber(number))
        try:
            fresh.import_block(block)
        except Exception as exc:
            raise VerificationError(f"replaying block #{number} failed: {exc}") from exc
        if fresh.get_canonical_head().hash != block.hash:
            raise VerificationError(f"replaying block #{number} gave a different block hash")
        receipts = stored.chaindb.get_receipts(block.header, type(block).receipt_builder)
        logs = [lg for receipt in receipts for lg in receipt.logs]
        indexed = list(ledger._kv.iter_logs(None, number, number))
        same = len(logs) == len(indexed) and all(
            bytes(a.address) == b.address
            and tuple(t.to_bytes(32, "big") for t in a.topics) == b.topics
            and bytes(a.data) == b.data
            for a, b in zip(logs, indexed, strict=True)
        )
        if not same:
            raise VerificationError(f"the log index of block #{number} differs from its receipts")
        _check_tx_index(ledger, number, block.transactions, receipts)
    _check_nodes(ledger, fresh_db)
    return head_number


def _check_nodes(ledger: EmbeddedLedger, fresh: AtomicDB) -> None:
    """Every key-value node the replay from genesis wrote is in the file, byte for byte.

    The replay's database holds exactly what a correct chain holds: headers, bodies, receipts and
    the state trie of every block. A damaged node of the file (in its key or its value) is then
    found even when no check above reads it, e.g. the state of an old block. Nodes of the file
    the replay did not write (intermediate states of mining) answer nothing and are not compared.
    """
    nodes: dict[bytes, bytes] = getattr(fresh.wrapped_db, "kv_store")  # noqa: B009 (MemoryDB)
    for key, value in nodes.items():
        try:
            stored = ledger._kv[key]
        except KeyError:
            stored = None
        if stored != value:
            raise VerificationError(
                f"chain file node 0x{bytes(key).hex()[:16]}... is "
                f"{'missing' if stored is None else 'altered'}: the replay from genesis wrote "
                "another value"
            )


def _check_tx_index(ledger: EmbeddedLedger, number: int, transactions: Any, receipts: Any) -> None:
    """The transaction index rows of a block agree with its transactions and receipts."""
    cumulative = 0
    for index, (tx, receipt) in enumerate(zip(transactions, receipts, strict=True)):
        row = ledger._kv.get_tx(bytes(tx.hash))
        gas_used = receipt.gas_used - cumulative
        cumulative = receipt.gas_used
        ok = 1 if receipt.state_root == b"\x01" else 0
        if row is None or (row.block_number, row.tx_index, row.status, row.gas_used) != (
            number,
            index,
            ok,
            gas_used,
        ):
            raise VerificationError(
                f"the transaction index of block #{number} (tx {index}, 0x{bytes(tx.hash).hex()}) "
                "differs from the block and its receipt"
            )
