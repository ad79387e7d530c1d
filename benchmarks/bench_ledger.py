"""Benchmark: slot settlement on the embedded chain and on anvil (JSON-RPC), side by side.

Usage::

    .venv/bin/python benchmarks/bench_ledger.py [--quick] [--restart-trades N]

For each backend a region is set up (contracts deployed, households registered, funded and in
escrow); then slots of 100, 1,000 and 10,000 random trades (each with two fresh EIP-712 signed
orders) are settled with :meth:`MarketClient.settle_trades`, which batches by gas estimate.
Timed: the settlement call alone (gas model, call data, signing, sending, mining, receipts;
orders are signed beforehand by their households). Reported per size: settled trades/s, gas per
trade (all gas of the slot's transactions / trades), transactions per slot.

Also:

* ``slot_1000``: a 1,000-household region's slot, every household in exactly one trade (500
  trades), embedded (target < 1 s) and anvil;
* gas per trade against a plain ERC-20 transfer (measured on the same chain) plus two ecrecover
  precompile calls (3,000 gas each): target within 2x;
* restart of the embedded chain (close, :meth:`EmbeddedLedger.open`, first read) after
  ``--restart-trades`` settled trades (default 100,000; ``--quick`` measures at the size it
  reached and says so).

``--quick`` (under 60 s) settles 100 and 1,000 trades only. The last line printed is one JSON
object with ``embedded_trades_per_s``, ``rpc_trades_per_s``, ``gas_per_trade`` and
``slot_1000_settle_s`` (embedded), the trades/s figures being those of the 1,000-trade slot.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from gridledger.chain.backend import LedgerBackend
from gridledger.chain.devnode import ANVIL_GAS_LIMIT, running_anvil
from gridledger.chain.embedded.node import EmbeddedLedger
from gridledger.chain.rpc import RpcBackend
from gridledger.chain.transactions import provide_gas
from gridledger.ledger.sandbox import Sandbox
from gridledger.ledger.settlement import MarketClient
from gridledger.ledger.trades import SignedTrade
from gridledger.market import Side

SEED = 20_261_124
FIRST_SLOT = 1_767_225_600
SLOT_S = 900
ECRECOVER_GAS = 3_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Run:
    """One backend's region and the slots settled on it."""

    def __init__(self, name: str, backend: LedgerBackend, households: int) -> None:
        self.name = name
        self.backend = backend
        t0 = time.perf_counter()
        self.bed = Sandbox.create(
            backend, households=households, seed=b"bench" + name.encode(), household_gas=False
        )
        self.setup_s = time.perf_counter() - t0
        self.slot = FIRST_SLOT
        self.rng = random.Random(SEED)
        self.settled = 0

    def next_slot(self) -> int:
        self.slot += SLOT_S
        return self.slot

    def settle(self, trades: list[SignedTrade], slot: int) -> dict[str, Any]:
        market = self.bed.deployment.market
        root = Sandbox.orders_root(trades)
        t0, c0 = time.perf_counter(), time.process_time()
        result = market.settle_trades(self.bed.operator, slot, trades, orders_root=root)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        self.settled += len(trades)
        return {
            "trades": len(trades),
            "settle_s": elapsed,
            "settle_cpu_s": cpu,
            "trades_per_s": len(trades) / elapsed,
            "gas_per_trade": result.gas_used / len(trades),
            "transactions": result.transactions,
        }

    def random_slot(self, n: int) -> dict[str, Any]:
        slot = self.next_slot()
        t0 = time.perf_counter()
        trades = self.bed.random_trades(slot, n, self.rng)
        sign_s = time.perf_counter() - t0
        out = self.settle(trades, slot)
        out["sign_s"] = sign_s
        return out

    def household_slot(self) -> dict[str, Any]:
        """Every household in one trade: half buy from the other half."""
        slot = self.next_slot()
        homes = list(self.bed.households)
        self.rng.shuffle(homes)
        fee = self.bed.deployment.market.grid_prices()[2]
        half = len(homes) // 2
        trades = []
        for buyer, seller in zip(homes[:half], homes[half:], strict=False):
            energy = self.rng.randint(100, 3_000)
            price = self.rng.randint(80_000, 200_000)
            bid = self.bed.order(buyer, slot, Side.BID, energy, price + fee)
            ask = self.bed.order(seller, slot, Side.ASK, energy, price)
            trades.append(SignedTrade.of(bid, ask, energy, price, fee))
        return self.settle(trades, slot)

    def transfer_gas(self) -> int:
        """Gas of a plain ERC-20 transfer between two accounts that both hold tokens."""
        a, b = self.bed.households[0], self.bed.households[1]
        provide_gas(self.backend, [a.address_bytes], 10**21)
        return self.bed.deployment.token.transfer(a, b.address_bytes, 1).gas_used


@contextmanager
def embedded_chain(path: Path) -> Iterator[EmbeddedLedger]:
    ledger = EmbeddedLedger(path, chain_id=1337, gas_limit=ANVIL_GAS_LIMIT)
    try:
        yield ledger
    finally:
        ledger.close()


@contextmanager
def anvil_chain() -> Iterator[RpcBackend]:
    with running_anvil() as url:
        backend = RpcBackend(url)
        try:
            yield backend
        finally:
            backend.close()


def fill_to(run: Run, target: int, chunk: int) -> None:
    """Settle random slots until ``target`` trades are on the chain."""
    while run.settled < target:
        n = min(chunk, target - run.settled)
        r = run.random_slot(n)
        log(f"  filled {run.settled:,} trades ({r['trades_per_s']:.0f}/s)")


def measure_restart(path: Path, ledger: EmbeddedLedger, market: bytes) -> float:
    ledger.close()
    t0 = time.perf_counter()
    reopened = EmbeddedLedger.open(path)
    reopened.block_number()
    MarketClient(reopened, market).total_escrow()  # a read through the state trie
    elapsed = time.perf_counter() - t0
    reopened.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 trades; < 60 s")
    parser.add_argument("--restart-trades", type=int, default=100_000)
    args = parser.parse_args(argv)
    sizes = [100, 1_000] if args.quick else [100, 1_000, 10_000]
    results: dict[str, dict[str, Any]] = {}
    restart: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_ledger_"))
    chains: list[tuple[str, Callable[[], AbstractContextManager[Any]]]] = [
        ("embedded", lambda: embedded_chain(tmp / "chain.sqlite")),
        ("anvil", anvil_chain),
    ]
    for name, opener in chains:
        with opener() as backend:
            run = Run(name, backend, households=1_000)
            log(f"{name}: setup of 1,000 households {run.setup_s:.1f} s")
            res: dict[str, Any] = {"setup_s": run.setup_s}
            # the first slot pays the client's gas-model estimates (cached afterwards)
            res["first_slot"] = run.random_slot(10)
            log(f"{name}: first slot (10 trades, gas model estimated) {res['first_slot']}")
            # a 1,000-household region never needs a multi-transaction slot, so its state holds
            # no stored fills: measure it before the 10,000-trade slot adds 20,000 of them
            res["slot_1000"] = run.household_slot()
            log(f"{name}: 1,000-household slot {res['slot_1000']}")
            for n in sizes:
                res[str(n)] = run.random_slot(n)
                log(f"{name}: {n} trades {res[str(n)]}")
            res["transfer_gas"] = run.transfer_gas()
            results[name] = res
            if name == "embedded":
                target = args.restart_trades if not args.quick else run.settled
                fill_to(run, target, 10_000)
                market = run.bed.deployment.market.address
                restart = {
                    "trades": run.settled,
                    "blocks": backend.block_number(),
                    "file_mb": (tmp / "chain.sqlite").stat().st_size / 1e6,
                    "restart_s": measure_restart(tmp / "chain.sqlite", backend, market),
                }
                log(f"embedded restart {restart}")
                backend.close = lambda: None  # closed by measure_restart

    emb, rpc = results["embedded"], results["anvil"]
    baseline = emb["transfer_gas"] + 2 * ECRECOVER_GAS
    gas_1000 = emb["1000"]["gas_per_trade"]
    print()
    print("| trades | backend | trades/s | gas/trade | tx/slot | settle [s] | our CPU [s] |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for key in [*(str(n) for n in sizes), "slot_1000"]:
        for name in ("embedded", "anvil"):
            r = results[name][key]
            label = "1,000 households (500)" if key == "slot_1000" else f"{int(key):,}"
            print(
                f"| {label} | {name} | {r['trades_per_s']:,.0f} | {r['gas_per_trade']:,.0f} | "
                f"{r['transactions']} | {r['settle_s']:.3f} | {r['settle_cpu_s']:.3f} |"
            )
    print()
    print(
        f"plain ERC-20 transfer {emb['transfer_gas']:,} gas + 2 ecrecover = {baseline:,}; "
        f"gas per trade at 1,000 trades {gas_1000:,.0f} = {gas_1000 / baseline:.2f}x (target <= 2x)"
    )
    print(
        f"embedded restart with {restart['trades']:,} settled trades ({restart['blocks']:,} "
        f"blocks, {restart['file_mb']:.0f} MB): {restart['restart_s']:.3f} s"
    )
    summary = {
        "embedded_trades_per_s": round(emb["1000"]["trades_per_s"]),
        "rpc_trades_per_s": round(rpc["1000"]["trades_per_s"]),
        "gas_per_trade": round(gas_1000),
        "gas_vs_transfer_2ecrecover": round(gas_1000 / baseline, 3),
        "slot_1000_settle_s": round(emb["slot_1000"]["settle_s"], 4),
        "slot_1000_settle_cpu_s": round(emb["slot_1000"]["settle_cpu_s"], 4),
        "rpc_slot_1000_settle_s": round(rpc["slot_1000"]["settle_s"], 4),
        "transactions_per_slot": {
            str(n): [emb[str(n)]["transactions"], rpc[str(n)]["transactions"]] for n in sizes
        },
        "first_slot_settle_s": round(emb["first_slot"]["settle_s"], 4),
        "restart_trades": restart["trades"],
        "restart_s": round(restart["restart_s"], 4),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
