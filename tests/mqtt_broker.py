"""A throwaway Mosquitto broker on a free 127.0.0.1 port, for tests and benchmarks.

It runs with its own configuration file in a temporary directory (persistence on, a large in-flight
window and no queue limit, so a persistent session never drops QoS 1 messages) and is stopped by
:meth:`MosquittoBroker.stop`. ``mosquitto_binary()`` is ``None`` where Mosquitto is not installed
(``scripts/setup.sh --services`` installs it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MosquittoBroker:
    """A Mosquitto process in its own temporary directory; ``url`` is ``mqtt://127.0.0.1:PORT``.

    Under root, Mosquitto drops its privileges to the ``mosquitto`` user: the directory (made
    directly under the system temporary directory, so that user can reach it) is then handed to
    that user, or, where it does not exist, the broker is told to stay root. :meth:`stop`
    removes the directory.
    """

    def __init__(self, binary: str | None = None) -> None:
        binary = binary or mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed; run scripts/setup.sh --services")
        self.binary = binary
        self.directory = Path(tempfile.mkdtemp(prefix="gridledger-mqtt-"))
        self.config = self.directory / "mosquitto.conf"
        self.log = self.directory / "mosquitto.log"
        user_line = ""
        if os.geteuid() == 0:
            try:
                os.chown(self.directory, pwd.getpwnam("mosquitto").pw_uid, -1)
            except KeyError:
                user_line = "user root"
        for attempt in range(3):  # another process may take the free port before mosquitto binds
            self.port = free_port()
            self.config.write_text(
                "\n".join(
                    [
                        f"listener {self.port} 127.0.0.1",
                        "allow_anonymous true",
                        user_line,
                        "persistence true",
                        f"persistence_location {self.directory}/",
                        "autosave_interval 1",
                        "max_inflight_messages 1000",
                        "max_queued_messages 0",
                        "max_queued_bytes 0",
                        f"log_dest file {self.log}",
                        "log_type error",
                        "log_type warning",
                        "",
                    ]
                )
            )
            self.process = subprocess.Popen(
                [binary, "-c", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                self._wait_ready()
                return
            except RuntimeError:
                self.stop(remove=False)
                if attempt == 2:
                    shutil.rmtree(self.directory, ignore_errors=True)
                    raise

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self.process.returncode}: "
                    f"{self.log.read_text() if self.log.exists() else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout_s} s")

    def restart(self) -> None:
        """Stop the broker (it saves its persistence file) and start it again on the same port."""
        self.stop(remove=False)
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def stop(self, remove: bool = True) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)


# --- pytest fixtures (imported by tests/conftest.py) ---------------------------------------------


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoBroker]:
    """One Mosquitto broker for the test session; skipped (or failed, with
    ``GRIDLEDGER_REQUIRE_MQTT=1``) where Mosquitto is not installed."""
    if mosquitto_binary() is None:
        reason = "mosquitto not found; run scripts/setup.sh --services"
        if os.environ.get("GRIDLEDGER_REQUIRE_MQTT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    broker = MosquittoBroker()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(params=["memory", "mqtt"])
def telemetry_url(request: pytest.FixtureRequest) -> str:
    """``memory://<unique>`` or the session broker's ``mqtt://127.0.0.1:PORT``."""
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex}"
    broker: MosquittoBroker = request.getfixturevalue("mosquitto")
    return broker.url
