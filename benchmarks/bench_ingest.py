"""Signed readings verified and stored per second (SQLite, PostgreSQL) beside the crypto ceiling.

The ceiling is the raw rate of coincurve's secp256k1 public-key recovery
(``PublicKey.from_signature_and_message``, the work ingest cannot avoid per reading) on one core.
Ingest is :meth:`gridledger.telemetry.Ingestor.process_stream` (what ``run_ingest`` uses) over
batches of 1,000 wire payloads: decode, EIP-712 digest, signature recovery and check against the
registered device, sequence / register / timestamp checks, and the store transaction (on a worker
thread, overlapping the next batch's checks). The process, both threads, is pinned to one core;
the PostgreSQL server (a throwaway one started here, as the test suite does) runs in its own
processes, started before the pinning.
With Mosquitto installed, the end-to-end rate over a real broker into SQLite is measured too.

Usage: ``python benchmarks/bench_ingest.py [--quick] [-n READINGS]``. The last line printed is one
JSON object: ``verify_ceiling_per_s``, ``ingest_sqlite_per_s``, ``ingest_postgres_per_s`` (``null``
where PostgreSQL cannot be started), ``ingest_mqtt_sqlite_per_s`` and the ratios to the ceiling.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import coincurve

from gridledger.identity import Domain
from gridledger.store import open_store
from gridledger.telemetry import Ingestor, Site, make_sites, open_transport, run_ingest, traffic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

DOMAIN = Domain(1337)
BATCH = 1000


def pin_one_core() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu{cpu}"
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return "unpinned"


def best_rate(count: int, run: Callable[[], None], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return count / best


def verify_ceiling(n: int, rounds: int) -> float:
    key = coincurve.PrivateKey()
    digests = [os.urandom(32) for _ in range(n)]
    sigs = [key.sign_recoverable(d, hasher=None) for d in digests]
    recover = coincurve.PublicKey.from_signature_and_message

    def run() -> None:
        for d, s in zip(digests, sigs, strict=True):
            recover(s, d, hasher=None)

    return best_rate(n, run, rounds)


def make_workload(n: int) -> tuple[list[Site], list[tuple[str, bytes]]]:
    sites_count = 50
    steps = max(1, n // (sites_count * 4))
    sites = make_sites(sites_count, "bench", seed=5)
    start = int(time.time() * 1000) - 30 * 86_400_000
    return sites, traffic(sites, steps, start, 60_000, DOMAIN)


def ingest_rate(url: str, sites: list[Site], msgs: list[tuple[str, bytes]]) -> float:
    with open_store(url) as store:
        for site in sites:
            site.register(store)
        ingestor = Ingestor(store, DOMAIN)
        t0 = time.perf_counter()
        batches = ((i, msgs[i : i + BATCH]) for i in range(0, len(msgs), BATCH))
        for _ in ingestor.process_stream(batches):
            pass
        elapsed = time.perf_counter() - t0
        if ingestor.stats["accepted"] != len(msgs) or store.reading_count() != len(msgs):
            raise RuntimeError(f"ingest did not store every reading: {dict(ingestor.stats)}")
    return len(msgs) / elapsed


def start_postgres() -> Any | None:
    """A throwaway server from ``tests/servers.py`` (as the test suite starts it), or ``None``."""
    try:
        servers = importlib.import_module("servers")
    except ImportError as exc:
        print(f"postgres: cannot import tests/servers.py ({exc})", file=sys.stderr)
        return None
    bindir = servers.find_pg_bindir()
    if bindir is None:
        print("postgres: binaries not found (scripts/setup.sh --services)", file=sys.stderr)
        return None
    server = servers.PostgresServer(bindir)
    try:
        server.start()
        return server
    except Exception as exc:
        print(f"postgres: cannot start: {exc}", file=sys.stderr)
        server.stop()
        return None


def start_mosquitto() -> Any | None:
    """A throwaway Mosquitto from ``tests/mqtt_broker.py``, or ``None`` where it is missing."""
    try:
        mqtt_broker = importlib.import_module("mqtt_broker")
    except ImportError:
        return None
    if mqtt_broker.mosquitto_binary() is None:
        return None
    return mqtt_broker.MosquittoBroker()


def mqtt_rate(broker: Any, tmp: Path, sites: list[Site], msgs: list[tuple[str, bytes]]) -> float:
    """End to end: publish everything to Mosquitto, then time ingest draining it into SQLite."""
    with open_store(f"sqlite:///{tmp / 'mqtt.sqlite'}") as store:
        for site in sites:
            site.register(store)
        ingestor = Ingestor(store, DOMAIN)
        client_id = f"bench-{uuid.uuid4().hex[:8]}"
        session = open_transport(broker.url, client_id)
        session.subscribe("gridledger/+/+/+/readings", lambda d: None)
        session.close()
        publisher = open_transport(broker.url, "bench-gateway")
        for topic, payload in msgs:
            publisher.publish(topic, payload)
        publisher.flush(120)
        publisher.close()
        transport = open_transport(broker.url, client_id)
        stop = threading.Event()

        def on_batch(batch: object, result: object) -> None:
            if ingestor.stats["accepted"] >= len(msgs):
                stop.set()

        t0 = time.perf_counter()
        worker = threading.Thread(
            target=run_ingest,
            args=(transport, ingestor),
            kwargs={"stop": stop, "on_batch": on_batch, "batch_size": BATCH},
        )
        worker.start()
        stop.wait(300)
        elapsed = time.perf_counter() - t0
        worker.join(10)
        transport.close()
        if store.reading_count() != len(msgs):
            raise RuntimeError("MQTT ingest did not store every reading")
    return len(msgs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run, under 60 s")
    parser.add_argument("-n", type=int, default=None, help="readings per backend")
    args = parser.parse_args()
    n = args.n or (10_000 if args.quick else 40_000)
    rounds = 3
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmpdir:
        tmp = Path(tmpdir)
        # servers first: pinning is inherited, and their processes must not share our core
        server = start_postgres()
        broker = start_mosquitto()
        core = pin_one_core()
        print(f"bench_ingest: {n} readings per backend, pinned to {core}, batches of {BATCH}")
        t0 = time.perf_counter()
        sites, msgs = make_workload(n)
        print(f"workload: {len(msgs)} signed readings in {time.perf_counter() - t0:.1f} s")
        ceilings: list[float] = []
        sqlite_rates: list[float] = []
        pg_rates: list[float] = []
        mqtt: float | None = None
        try:
            for r in range(rounds):  # interleaved, best of each: the machine is shared and noisy
                ceilings.append(verify_ceiling(min(n, 20_000), 1))
                sqlite_rates.append(ingest_rate(f"sqlite:///{tmp / f's{r}.sqlite'}", sites, msgs))
                if server is not None:
                    pg_rates.append(ingest_rate(server.create_database(), sites, msgs))
            if broker is not None:
                mqtt = mqtt_rate(broker, tmp, sites, msgs)
        finally:
            if server is not None:
                server.stop()
            if broker is not None:
                broker.stop()
    ceiling, sqlite_rate = max(ceilings), max(sqlite_rates)
    pg_rate = max(pg_rates) if pg_rates else None
    print(f"verify ceiling (coincurve recover, one core): {ceiling:,.0f}/s")
    print(f"ingest -> SQLite:      {sqlite_rate:,.0f}/s ({sqlite_rate / ceiling:.0%} of ceiling)")
    if pg_rate is None:
        print("ingest -> PostgreSQL:  not measured (server could not start)")
    else:
        print(f"ingest -> PostgreSQL:  {pg_rate:,.0f}/s ({pg_rate / ceiling:.0%} of ceiling)")
    if mqtt is not None:
        print(f"Mosquitto -> ingest -> SQLite, end to end: {mqtt:,.0f}/s")
    results = {
        "benchmark": "bench_ingest",
        "readings": len(msgs),
        "quick": args.quick,
        "core": core,
        "python": platform.python_version(),
        "verify_ceiling_per_s": round(ceiling),
        "ingest_sqlite_per_s": round(sqlite_rate),
        "ingest_postgres_per_s": None if pg_rate is None else round(pg_rate),
        "ingest_mqtt_sqlite_per_s": None if mqtt is None else round(mqtt),
        "sqlite_fraction_of_ceiling": round(sqlite_rate / ceiling, 3),
        "postgres_fraction_of_ceiling": None if pg_rate is None else round(pg_rate / ceiling, 3),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
