"""How fast hostile inputs are refused: slot documents over the limit, nesting, silent nodes.

Measures, in one process:

* an oversized slot document (a sparse 577 MB file, the size from issue 9): time to refusal;
* a slot document just under the 32 MiB limit: ``parse_document`` (size, UTF-8, NUL and depth
  checks, then ``json.loads``) against ``json.loads`` alone, the baseline, as a ratio;
* 32 MiB of nested brackets: time to refusal (no recursion);
* a JSON-RPC node that accepts connections and never answers: time until
  :class:`~gridledger.errors.NodeError` with a 1 s answer timeout, against web3's default
  ``HTTPProvider`` with the same timeout (its retries with back-off), the baseline.

``--quick`` uses an 8 MiB document and 8 MiB of nesting. The last line is one JSON object.

Command: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_cli_inputs.py [--quick]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path

from gridledger.chain.rpc import RpcBackend
from gridledger.errors import NodeError, OrderError
from gridledger.market.records import MAX_DOCUMENT_BYTES, SlotOrders, parse_document


def _silent_node() -> tuple[socket.socket, list[socket.socket]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def run() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=run, daemon=True).start()
    return server, held


def _document(size: int) -> bytes:
    order = {
        "region": "north",
        "slot_start_s": 1_800_000_000,
        "side": "bid",
        "energy_wh": 500,
        "price_micro_per_kwh": 150_000,
        "owner": "0x" + "ab" * 20,
        "nonce": 1,
        "target": "0x" + "00" * 20,
        "signature": "0x" + "cd" * 65,
    }
    count = size // (len(json.dumps(order)) + 2) - 10
    doc = {"region": "north", "slot_start_s": 1_800_000_000, "orders": [order] * count}
    return json.dumps(doc).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="8 MiB inputs instead of 32 MiB")
    args = parser.parse_args()
    size = (8 << 20) if args.quick else MAX_DOCUMENT_BYTES - 4096
    figures: dict[str, float] = {}

    with tempfile.TemporaryDirectory() as directory:
        big = Path(directory, "big.json")
        with big.open("wb") as fh:
            fh.truncate(577 << 20)
        started = time.perf_counter()
        with contextlib.suppress(OrderError):
            SlotOrders.load(big)
        figures["oversized_refused_ms"] = round((time.perf_counter() - started) * 1e3, 3)
    print(f"577 MB slot document refused in {figures['oversized_refused_ms']} ms")

    raw = _document(size)
    started = time.perf_counter()
    parse_document(raw, "doc")
    checked = time.perf_counter() - started
    started = time.perf_counter()
    json.loads(raw)
    baseline = time.perf_counter() - started
    figures["parse_document_s"] = round(checked, 3)
    figures["parse_overhead_ratio"] = round(checked / baseline, 2)
    print(
        f"{len(raw) / 2**20:.1f} MiB document: parse_document {checked:.3f} s, json.loads alone "
        f"{baseline:.3f} s (ratio {figures['parse_overhead_ratio']})"
    )
    del raw

    half = size // 2
    deep = b"[" * half + b"]" * half
    started = time.perf_counter()
    with contextlib.suppress(OrderError):
        parse_document(deep, "deep")
    figures["deep_refused_s"] = round(time.perf_counter() - started, 3)
    print(
        f"{len(deep) / 2**20:.1f} MiB of nested brackets refused in {figures['deep_refused_s']} s"
    )
    del deep

    server, held = _silent_node()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    started = time.perf_counter()
    with contextlib.suppress(NodeError):
        RpcBackend(url, probe_timeout_s=1, connect_timeout_s=1)
    figures["silent_node_error_s"] = round(time.perf_counter() - started, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from web3 import HTTPProvider

    provider = HTTPProvider(url, request_kwargs={"timeout": (1, 1)})  # web3's default retries
    started = time.perf_counter()
    with contextlib.suppress(OSError):
        provider.make_request("eth_chainId", [])
    figures["silent_node_web3_default_s"] = round(time.perf_counter() - started, 2)
    server.close()
    for conn in held:
        conn.close()
    print(
        f"silent JSON-RPC node, 1 s answer timeout: NodeError after "
        f"{figures['silent_node_error_s']} s; web3 default HTTPProvider gave up after "
        f"{figures['silent_node_web3_default_s']} s"
    )
    figures["quick"] = float(args.quick)
    print(json.dumps(figures))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
