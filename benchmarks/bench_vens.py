"""What the live VENs cost the simulated neighbourhood: one step of ``N`` households (energy
balance and one signed reading per device, as ``gridledger serve`` runs it every reading
interval) without demand response, and with the VENs following live events (an import limit
over all households, a price event, and a load shed aimed at a tenth of them, plus past events
that must cost nothing), measured in the same run; and one slot's order planning with and
without the VENs' response.

Usage: ``python benchmarks/bench_vens.py [--quick] [--households N] [--steps S]``. The last
line printed is one JSON object: ``households``, ``step_ms`` and ``step_with_vens_ms`` (median
per step), ``vens_overhead_ratio`` (with / without), ``plan_ms``, ``plan_with_vens_ms``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridledger.identity import Domain
from gridledger.operator.openadr import IntervalPeriod, limit_event, price_event, shed_event
from gridledger.service.access import Principal, Role
from gridledger.service.events import EventBus
from gridledger.service.journal import Journal
from gridledger.service.neighbourhood import Neighbourhood
from gridledger.service.vens import LiveVens
from gridledger.service.vtn import Vtn, default_program_id
from gridledger.telemetry import open_transport

START = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
SLOT_S = 900


def _hood(n: int, tag: str) -> Neighbourhood:
    transport = open_transport(f"memory://bench-vens-{tag}", "bench")
    hood = Neighbourhood("central", n, transport, Domain(1337), seed=7)
    hood._last_ms = int(START.timestamp() * 1000)
    return hood


def _steps(hood: Neighbourhood, steps: int) -> list[float]:
    times = []
    now_ms = hood._last_ms or 0
    for _ in range(steps):
        now_ms += 60_000
        t0 = time.perf_counter()
        hood.step(now_ms)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 households, 20 steps")
    ap.add_argument("--households", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    n, steps = (200, 20) if args.quick else (args.households, args.steps)

    plain = _hood(n, "plain")
    with tempfile.TemporaryDirectory() as tmp:
        vtn = Vtn(
            Journal(Path(tmp) / "vtn.jsonl"),
            lambda: START,
            lambda region: [f"{region}-{i:04d}" for i in range(n)],
        )
        vtn.ensure_program("central")
        program = default_program_id("central")
        op = _operator()
        window = IntervalPeriod(START + timedelta(minutes=10), 3600)
        vtn.create_event(op, limit_event("", program, window, 300).to_json())
        prices = [300_000 + 10_000 * k for k in range(8)]
        vtn.create_event(op, price_event("", program, START, SLOT_S, prices).to_json())
        tenth = [f"central-{i:04d}" for i in range(0, n, 10)]
        vtn.create_event(op, shed_event("", program, window, 1, tenth).to_json())
        for day in range(1, 31):  # a month of past evening events
            past = IntervalPeriod(START - timedelta(days=day), 3600)
            vtn.create_event(op, limit_event("", program, past, 300).to_json())
        followed = _hood(n, "vens")
        LiveVens("central", followed, vtn, EventBus(), SLOT_S)
        _steps(plain, 2)  # warm-up
        _steps(followed, 2)
        base = statistics.median(_steps(plain, steps))
        with_vens = statistics.median(_steps(followed, steps))
        slot_s = int(START.timestamp()) // SLOT_S * SLOT_S + 2 * SLOT_S
        vens = followed.responder
        assert isinstance(vens, LiveVens)
        plan = _time(lambda: plain.plan(slot_s, SLOT_S, 80_000, 300_000, None))
        plan_vens = _time(
            lambda: followed.plan(
                slot_s, SLOT_S, 80_000, 300_000, None, vens.slot_response(slot_s, SLOT_S, 300_000)
            )
        )
    ratio = with_vens / base
    print(f"{n} households, median of {steps} steps (one reading interval each):")
    print(f"  step without demand response  {base:9.2f} ms")
    print(f"  step with the live VENs       {with_vens:9.2f} ms  ({ratio:.2f}x)")
    print(f"  slot plan without / with      {plan:9.2f} ms / {plan_vens:.2f} ms")
    print(
        json.dumps(
            {
                "households": n,
                "step_ms": round(base, 2),
                "step_with_vens_ms": round(with_vens, 2),
                "vens_overhead_ratio": round(ratio, 3),
                "plan_ms": round(plan, 2),
                "plan_with_vens_ms": round(plan_vens, 2),
            }
        )
    )


def _operator() -> Principal:
    return Principal(
        "0x" + "11" * 20, frozenset({Role.OPERATOR}), operator_regions=frozenset({"central"})
    )


def _time(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
