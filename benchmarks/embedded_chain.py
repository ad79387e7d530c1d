"""Measure the embedded chain: settlement throughput, restart time vs chain length, disk per tx.

Run ``python benchmarks/embedded_chain.py [--trades 100000] [--dir DIR]``. It uses a
stand-in settlement contract (:data:`SETTLE_SOURCE`: per trade two ``ecrecover`` checks, two
storage updates and one event, about 24k gas) so that it measures the chain, not the market
contracts; ``benchmarks/bench_ledger.py`` measures the real ones. The last line printed is one
JSON object.

Other code times a restart with :func:`time_restart` (open the file, read the head, close).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import coincurve
from eth_abi.abi import encode as abi_encode
from eth_account import Account

from gridledger.chain.embedded.node import EmbeddedLedger
from gridledger.identity import keccak

SETTLE_SOURCE = """
struct Trade:
    buyer: address
    seller: address
    energy_wh: uint256
    price: uint256
    digest_b: bytes32
    v_b: uint8
    r_b: bytes32
    s_b: bytes32
    digest_s: bytes32
    v_s: uint8
    r_s: bytes32
    s_s: bytes32

event Settled:
    buyer: indexed(address)
    seller: indexed(address)
    energy_wh: uint256
    amount: uint256

credit: public(HashMap[address, uint256])
debit: public(HashMap[address, uint256])

@external
def settle(trades: DynArray[Trade, 200]):
    for t: Trade in trades:
        assert ecrecover(t.digest_b, t.v_b, t.r_b, t.s_b) == t.buyer, "buyer signature"
        assert ecrecover(t.digest_s, t.v_s, t.r_s, t.s_s) == t.seller, "seller signature"
        amount: uint256 = t.energy_wh * t.price // 1000
        self.credit[t.seller] += amount
        self.debit[t.buyer] += amount
        log Settled(buyer=t.buyer, seller=t.seller, energy_wh=t.energy_wh, amount=amount)
"""

COUNTER_SOURCE = """
event Touched:
    value: uint256

last: public(uint256)

@external
def touch(v: uint256):
    self.last = v
    log Touched(value=v)
"""

_TRADE_ABI = (
    "(address,address,uint256,uint256,bytes32,uint8,bytes32,bytes32,bytes32,uint8,bytes32,bytes32)"
    "[]"
)
_SETTLE = keccak(("settle(" + _TRADE_ABI + ")").encode())[:4]
_TOUCH = keccak(b"touch(uint256)")[:4]


def compile_vyper(source: str) -> bytes:
    """Deployable bytecode of a Vyper source (compiled in process)."""
    import vyper

    out = vyper.compile_code(source, output_formats=["bytecode"])
    return bytes.fromhex(out["bytecode"][2:])


def time_restart(path: str | os.PathLike[str]) -> tuple[float, int]:
    """Seconds to open an existing chain file and read its head, and the head's number."""
    start = time.perf_counter()
    ledger = EmbeddedLedger.open(path)
    try:
        number = ledger.block_number()
        return time.perf_counter() - start, number
    finally:
        ledger.close()


class _Operator:
    def __init__(self, ledger: EmbeddedLedger) -> None:
        self.account = Account.from_key(keccak(b"embedded bench operator"))
        self.address = bytes.fromhex(self.account.address[2:])
        self.ledger = ledger
        self.nonce = ledger.nonce(self.address)

    def tx(self, to: bytes | None, data: bytes, gas: int) -> bytes:
        fields: dict[str, Any] = {
            "nonce": self.nonce,
            "gas": gas,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "data": data,
            "value": 0,
            "chainId": self.ledger.chain_id,
        }
        if to is not None:
            fields["to"] = to
        self.nonce += 1
        return bytes(self.account.sign_transaction(fields).raw_transaction)

    def deploy(self, code: bytes) -> bytes:
        (receipt,) = self.ledger.send_raw_transactions([self.tx(None, code, 3_000_000)])
        assert receipt.contract_address is not None
        return receipt.contract_address


class _Households:
    """Signing keys of ``n`` households; trades between them carry real signatures."""

    def __init__(self, n: int = 200) -> None:
        self.keys = [coincurve.PrivateKey(keccak(b"household %d" % i)) for i in range(n)]
        self.addresses = [
            "0x" + keccak(k.public_key.format(compressed=False)[1:])[12:].hex() for k in self.keys
        ]

    def _sign(self, who: int, digest: bytes) -> tuple[int, bytes, bytes]:
        sig = self.keys[who].sign_recoverable(digest, hasher=None)
        return sig[64] + 27, sig[:32], sig[32:64]

    def settle_call(self, first: int, count: int) -> bytes:
        half = len(self.keys) // 2
        trades = []
        for n in range(first, first + count):
            buyer, seller = n % half, half + (n * 7) % half
            bid, ask = keccak(b"bid %d" % n), keccak(b"ask %d" % n)
            trades.append(
                (
                    self.addresses[buyer],
                    self.addresses[seller],
                    1000 + n % 5000,
                    250_000,
                    bid,
                    *self._sign(buyer, bid),
                    ask,
                    *self._sign(seller, ask),
                )
            )
        return _SETTLE + abi_encode([_TRADE_ABI], [trades])


def settle_batches(
    ledger: EmbeddedLedger,
    operator: _Operator,
    households: _Households,
    contract: bytes,
    first_trade: int,
    trades: int,
    per_tx: int = 100,
) -> tuple[float, float, int, int]:
    """Settle ``trades`` trades in one ``send_raw_transactions`` call of ``per_tx`` trades per tx.

    Returns (seconds in ``send_raw_transactions``, CPU seconds of this process in it, gas used,
    transactions). The CPU figure is the one to compare on a shared machine."""
    raws = [
        operator.tx(
            contract,
            households.settle_call(start, min(per_tx, first_trade + trades - start)),
            60_000 * per_tx,
        )
        for start in range(first_trade, first_trade + trades, per_tx)
    ]
    start_s, start_cpu = time.perf_counter(), time.process_time()
    receipts = ledger.send_raw_transactions(raws)
    seconds, cpu = time.perf_counter() - start_s, time.process_time() - start_cpu
    if any(r.status != 1 for r in receipts):
        raise RuntimeError(f"a settlement reverted: {[r.revert_reason for r in receipts]}")
    return seconds, cpu, sum(r.gas_used for r in receipts), len(receipts)


def run(directory: Path, total_trades: int, checkpoints: Sequence[int]) -> dict[str, Any]:
    """Build a chain of ``total_trades`` settled trades, measuring at each checkpoint."""
    path = directory / "bench-chain.sqlite"
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    results: dict[str, Any] = {"restart": []}
    ledger = EmbeddedLedger(path)
    operator = _Operator(ledger)
    households = _Households()
    settle = operator.deploy(compile_vyper(SETTLE_SOURCE))
    counter = operator.deploy(compile_vyper(COUNTER_SOURCE))

    # plain contract transactions: 1,000 touch() calls in one batch
    raws = [operator.tx(counter, _TOUCH + i.to_bytes(32, "big"), 60_000) for i in range(1000)]
    size0 = _size(ledger)
    start = time.perf_counter()
    ledger.send_raw_transactions(raws)
    results["simple_tx_per_s"] = round(1000 / (time.perf_counter() - start))
    results["simple_tx_disk_bytes"] = round((_size(ledger) - size0) / 1000)

    done = 0
    slot_times: list[float] = []
    slot_cpu: list[float] = []
    gas = 0
    size0 = _size(ledger)
    for checkpoint in sorted(checkpoints):
        while done < checkpoint:
            batch = min(1000, checkpoint - done)
            seconds, cpu, used, _ = settle_batches(
                ledger, operator, households, settle, done, batch
            )
            slot_times.append(seconds)
            slot_cpu.append(cpu)
            gas += used
            done += batch
        trades_size = _size(ledger) - size0
        ledger.close()
        restart_s, head = time_restart(path)
        results["restart"].append(
            {"trades": done, "blocks": head, "restart_s": round(restart_s, 4)}
        )
        print(
            f"{done:>7} trades, {head:>4} blocks: restart {restart_s * 1000:.1f} ms, "
            f"file {_file_size(path) / 1e6:.1f} MB, {trades_size / done:.0f} B/trade, "
            f"max RSS {_max_rss_mb()} MB",
            flush=True,
        )
        ledger = EmbeddedLedger(path)
    ledger.close()
    slot_times.sort()
    slot_cpu.sort()
    median = slot_times[len(slot_times) // 2]
    results.update(
        trades=done,
        slot_1000_settle_s=round(median, 3),
        slot_1000_settle_cpu_s=round(slot_cpu[len(slot_cpu) // 2], 3),
        trades_per_s=round(1000 / median),
        gas_per_trade=round(gas / done),
        disk_bytes_per_trade=round(trades_size / done),
        file_mb=round(_file_size(path) / 1e6, 1),
        max_rss_mb=_max_rss_mb(),
    )
    return results


def _max_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(str(path) + "-wal")) if p.exists())


def _size(ledger: EmbeddedLedger) -> int:
    ledger.checkpoint()
    return ledger.disk_bytes()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trades", type=int, default=100_000, help="trades to settle in all")
    parser.add_argument("--dir", type=Path, default=None, help="directory for the chain file")
    args = parser.parse_args(argv)
    checkpoints = sorted({c for c in (1000, 10_000, 100_000) if c < args.trades} | {args.trades})
    if args.dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            results = run(Path(tmp), args.trades, checkpoints)
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        results = run(args.dir, args.trades, checkpoints)
    r = results
    print(
        f"1,000-trade slot (10 tx of 100 trades, one block): {r['slot_1000_settle_s']} s median "
        f"({r['slot_1000_settle_cpu_s']} s CPU) = {r['trades_per_s']} trades/s, "
        f"{r['gas_per_trade']} gas/trade; 1,000 plain contract calls: {r['simple_tx_per_s']} tx/s"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
