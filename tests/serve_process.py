"""A real ``gridledger serve`` in a child process, for the tests that talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def process_gone(pid: int, within_s: float) -> bool:
    """Whether process ``pid`` has exited within ``within_s`` [s]."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running_serve(data: Path, *options: str, src: Path = ROOT / "src") -> Iterator[str]:
    """A real ``gridledger serve`` in a child process on a free 127.0.0.1 port; its URL.

    In-process telemetry, ``data`` as its data dir, gridledger imported from ``src``; stopped with
    SIGTERM afterwards.
    """
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "GRIDLEDGER_TELEMETRY_URL": "memory://",
    }
    log = open(data / "serve.log", "wb")  # noqa: SIM115 - closed after the process
    proc = subprocess.Popen(
        [
            sys.executable, "-c", "from gridledger.cli import main; main()", "serve",
            "--data-dir", str(data), "--port", str(port), *options,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (data / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "gridledger serve not ready in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
