"""Real throwaway servers for the test suite, started and stopped by the tests themselves.

PostgreSQL: one server per test session, created with ``initdb`` in a fresh temporary directory,
listening on a free port of 127.0.0.1 (and a unix socket in that directory), with ``fsync`` off.
``initdb`` refuses to run as root, so under root the server runs as the ``postgres`` user (or
``nobody``) through ``runuser``. The binaries come from ``scripts/setup.sh --services`` (Debian's
``postgresql`` package, ``/usr/lib/postgresql/<version>/bin``) or ``GRIDLEDGER_PG_BINDIR``; where
none is installed the PostgreSQL tests are skipped with the reason, unless
``GRIDLEDGER_REQUIRE_PG=1`` (then they fail).

Fixtures (imported by ``tests/conftest.py``):

* ``postgres_server``: the session's :class:`PostgresServer`;
* ``postgres_url``: the URL of a fresh, empty database, dropped after the test;
* ``store_url``: parametrized ``sqlite`` / ``postgres``: the URL of a fresh empty store;
* ``store``: the :class:`~gridledger.store.Store` opened on ``store_url``, closed after the test.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridledger.store import Store, open_store

PG_USER = "gridledger"

# Stops the server if the test process dies without running its finalizers (SIGTERM from
# `timeout`, SIGKILL): polls the test process, then stops the server and removes its directory.
_WATCHDOG = """
import os, shutil, subprocess, sys, time
pid, base, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.path.exists(base):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        subprocess.run(cmd, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
        break
    time.sleep(1)
"""


def find_pg_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: ``GRIDLEDGER_PG_BINDIR`` or the newest Debian."""
    env = os.environ.get("GRIDLEDGER_PG_BINDIR")
    candidates = [env] if env else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for c in candidates:
        if (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """A PostgreSQL server in a temporary directory; :meth:`stop` removes everything."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="gridledger-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = 0
        self._prefix: list[str] = []
        self._names = itertools.count(1)
        self._watchdog: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            user = "postgres"
            try:
                pwd.getpwnam(user)
            except KeyError:
                user = "nobody"
            os.chown(self.base, pwd.getpwnam(user).pw_uid, -1)
            self._prefix = ["runuser", "-u", user, "--"]

    def _run(self, *args: str) -> None:
        cmd = [*self._prefix, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{log}"
            )

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        for attempt in range(3):  # another process may take the free port before we bind it
            self.port = free_port()
            try:
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                    "-t", "60", "-o", f"-p {self.port} {options}", "start",
                )  # fmt: skip
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        stop = [*self._prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate"]
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self.base), *stop, "stop"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait(timeout=30)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE template0 STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_pg_bindir()
    if bindir is None:
        reason = "PostgreSQL binaries not found; run scripts/setup.sh --services"
        if os.environ.get("GRIDLEDGER_REQUIRE_PG") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened
