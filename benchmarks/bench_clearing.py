"""Benchmark: pay_as_clear over books of 1k to 1M orders (half bids, half asks), one core.

Usage::

    .venv/bin/python benchmarks/bench_clearing.py [--quick] [--pymarket-python PATH]

The books' numpy columns are built directly from a seeded generator (random 32-byte order ids
and owners, energy 100-5,000 Wh, bid limits 100k-350k and ask limits 50k-300k micro/kWh): signature
checks happen once at the market's edge and are not part of clearing, so they are not timed here.
``clear`` times :func:`gridledger.market.clear_book` (sorting, crossing, fills, pairing, company
matching, per-trade amounts and fees); ``encode+hash`` times the canonical encoding and its
Keccak-256 separately. The process is pinned to one CPU unless ``--no-pin``.

pymarket (0.7.6) needs pandas < 3 for its Huang mechanism, so it is run in a separate interpreter
(``--pymarket-python``, default: this one if it can import pymarket, else
``$GRIDLEDGER_PYMARKET_PYTHON``, else ``.venv-pymarket/bin/python`` made by ``make bench-deps``)
on the same books, at the sizes where one run finishes within a minute; the comparison is skipped
with a printed reason when none is available. ``--quick`` (under 60 s) skips pymarket but not
the 1M case.

The last line printed is one JSON object with ``clear_1m_s`` and ``orders_per_s_1m``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20_261_124
PYMARKET_BUDGET_S = 60.0
PYMARKET_MECHANISMS = ("huang", "muda")
#: Created by `make bench-deps` (pymarket with pandas < 3, kept apart from the project venv).
DEFAULT_PYMARKET_VENV = Path(__file__).resolve().parent.parent / ".venv-pymarket" / "bin" / "python"


def make_columns(n: int, seed: int = SEED) -> dict[str, np.ndarray[Any, Any]]:
    """Random book columns: half bids, half asks (shuffled), no company offers."""
    rng = np.random.default_rng(seed + n)
    is_bid = np.zeros(n, bool)
    is_bid[: n // 2] = True
    rng.shuffle(is_bid)
    price = np.where(
        is_bid, rng.integers(100_000, 350_001, n), rng.integers(50_000, 300_001, n)
    ).astype(np.int64)
    return {
        "order_ids": np.frombuffer(rng.bytes(32 * n), np.uint8).reshape(n, 32),
        "owners": np.frombuffer(rng.bytes(20 * n), np.uint8).reshape(n, 20),
        "is_bid": is_bid,
        "energy_wh": rng.integers(100, 5_001, n).astype(np.int64),
        "price_micro_per_kwh": price,
    }


def pin_one_core() -> str:
    """Pin this process to one CPU it may run on; return a description."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def bench_gridledger(n: int, repeats: int) -> dict[str, Any]:
    from gridledger.market import BookArrays, RuleSet, clear_book

    book = BookArrays.build(**make_columns(n))
    rules = RuleSet("pay_as_clear")
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = clear_book(book, rules, region="bench", slot_start_s=0)
        times.append(time.perf_counter() - start)
    assert result is not None
    start = time.perf_counter()
    digest = result.hash
    encode_s = time.perf_counter() - start
    tracemalloc.start()
    clear_book(book, rules, region="bench", slot_start_s=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    median = statistics.median(times)
    return {
        "orders": n,
        "clear_s": median,
        "clear_best_s": min(times),
        "orders_per_s": n / median,
        "encode_hash_s": encode_s,
        "peak_mib": peak / 2**20,
        "trades": len(result),
        "traded_wh": result.traded_wh,
        "price": result.clearing_price_micro_per_kwh,
        "hash": "0x" + digest.hex()[:16],
    }


# --- pymarket, in its own interpreter --------------------------------------------------------


def pymarket_worker(path: str, mechanism: str) -> None:
    """Run one pymarket mechanism on the book in ``path`` (npz) and print JSON seconds."""
    import pymarket as pm

    data = np.load(path)
    market = pm.Market()
    for energy, price, is_bid, user in zip(
        data["energy_wh"].tolist(),
        data["price_micro_per_kwh"].tolist(),
        data["is_bid"].tolist(),
        range(len(data["energy_wh"])),
        strict=True,
    ):
        market.accept_bid(energy, price, user, is_bid)
    np.random.seed(0)
    start = time.perf_counter()
    transactions, _extra = market.run(mechanism)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "trades": len(transactions.get_df())}))


def find_pymarket_python(explicit: str | None) -> tuple[str | None, str]:
    if explicit:
        return explicit, "from --pymarket-python"
    if importlib.util.find_spec("pymarket") is not None:
        return sys.executable, "this interpreter"
    env = os.environ.get("GRIDLEDGER_PYMARKET_PYTHON")
    if env:
        return env, "from $GRIDLEDGER_PYMARKET_PYTHON"
    if DEFAULT_PYMARKET_VENV.exists():
        return str(DEFAULT_PYMARKET_VENV), f"from {DEFAULT_PYMARKET_VENV}"
    return None, (
        "pymarket is not importable here (it needs pandas < 3); run `make bench-deps` to create "
        f"{DEFAULT_PYMARKET_VENV.parent.parent} with it"
    )


def bench_pymarket(python: str, sizes: list[int], ours: dict[int, float]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for mechanism in PYMARKET_MECHANISMS:
            for n in sizes:
                path = Path(tmp) / f"book_{n}.npz"
                if not path.exists():
                    cols = make_columns(n)
                    np.savez(
                        path,
                        energy_wh=cols["energy_wh"],
                        price_micro_per_kwh=cols["price_micro_per_kwh"],
                        is_bid=cols["is_bid"],
                    )
                cmd = [python, __file__, "--pymarket-worker", str(path), "--mechanism", mechanism]
                try:
                    done = subprocess.run(
                        cmd, capture_output=True, text=True, timeout=PYMARKET_BUDGET_S, check=True
                    )
                except subprocess.TimeoutExpired:
                    print(
                        f"  pymarket {mechanism:<6} {n:>9,} orders: over "
                        f"{PYMARKET_BUDGET_S:.0f} s, stopping this mechanism",
                        flush=True,
                    )
                    rows.append({"mechanism": mechanism, "orders": n, "seconds": None})
                    break
                except subprocess.CalledProcessError as exc:
                    reason = (exc.stderr or "").strip().splitlines()[-1:] or ["failed"]
                    print(
                        f"  pymarket {mechanism:<6} {n:>9,} orders: error: {reason[0]}", flush=True
                    )
                    rows.append({"mechanism": mechanism, "orders": n, "error": reason[0]})
                    break
                seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
                ratio = seconds / ours[n]
                print(
                    f"  pymarket {mechanism:<6} {n:>9,} orders: {seconds:9.3f} s "
                    f"({n / seconds:12,.0f} orders/s)  gridledger is {ratio:,.0f}x faster",
                    flush=True,
                )
                rows.append(
                    {"mechanism": mechanism, "orders": n, "seconds": seconds, "ratio": ratio}
                )
                if seconds * 10 > PYMARKET_BUDGET_S:  # the next size would not finish in time
                    break
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under 60 s; skips pymarket")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--pymarket-python", default=None, help="interpreter with pymarket")
    parser.add_argument("--pymarket-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mechanism", default="huang", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pymarket_worker:
        pymarket_worker(args.pymarket_worker, args.mechanism)
        return

    pinned = "not pinned" if args.no_pin else pin_one_core()
    print(f"bench_clearing: pay_as_clear, numpy {np.__version__}, {pinned}", flush=True)
    repeats = {1_000: 50, 10_000: 20, 100_000: 5, 1_000_000: 3 if args.quick else 5}
    figures: dict[int, dict[str, Any]] = {}
    for n, count in repeats.items():
        fig = bench_gridledger(n, count)
        figures[n] = fig
        print(
            f"  gridledger {n:>9,} orders: clear {fig['clear_s']:.4f} s "
            f"(best {fig['clear_best_s']:.4f}) = {fig['orders_per_s']:12,.0f} orders/s, "
            f"{fig['trades']:,} trades, price {fig['price']}, peak {fig['peak_mib']:.1f} MiB, "
            f"encode+hash {fig['encode_hash_s']:.3f} s",
            flush=True,
        )
    max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    comparison: list[dict[str, Any]] = []
    if args.quick:
        print("  pymarket: skipped (--quick)", flush=True)
        pymarket_note = "skipped (--quick)"
    else:
        python, pymarket_note = find_pymarket_python(args.pymarket_python)
        if python is None:
            print(f"  pymarket: skipped: {pymarket_note}", flush=True)
        else:
            print(f"  pymarket: {pymarket_note}", flush=True)
            ours = {n: fig["clear_s"] for n, fig in figures.items()}
            comparison = bench_pymarket(python, [1_000, 10_000, 100_000, 1_000_000], ours)

    one_m = figures[1_000_000]
    summary = {
        "clear_1m_s": round(one_m["clear_s"], 4),
        "orders_per_s_1m": round(one_m["orders_per_s"]),
        "encode_hash_1m_s": round(one_m["encode_hash_s"], 4),
        "peak_mib_1m": round(one_m["peak_mib"], 1),
        "max_rss_mib": round(max_rss_mib, 1),
        "orders_per_s": {str(n): round(f["orders_per_s"]) for n, f in figures.items()},
        "clear_s": {str(n): round(f["clear_s"], 6) for n, f in figures.items()},
        "pymarket": comparison,
        "pymarket_note": pymarket_note,
        "pinned": pinned,
        "quick": args.quick,
    }
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
