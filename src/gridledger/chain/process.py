"""The embedded chain in a child process: :class:`ProcessBackend` forwards every call over a pipe.

Why a process: py-evm is pure Python. Mining a settlement block holds the interpreter (the GIL)
for 0.3-1 s per slot, so in ``gridledger serve`` every HTTP request and stream event waited
behind it, whatever thread the chain ran in. In a child process the chain has its own
interpreter; the server's thread that settles a slot waits on the pipe (the GIL released) while
the event loop goes on serving.

Why here, at the backend, and not around the settlement protocol: :class:`LedgerBackend` is
already the one seam between the pipeline and a chain (the JSON-RPC backend puts the chain in
another process too), its calls are a few bytes in and out, and nothing above it changes. The
settlement protocol (``operator/settlement.py``: check, record the intent, send, record the
receipt, its fault points) keeps running in the one process that owns the store, in the same
order; moving it into a worker would put the store, the market's books and the journal in two
processes. The chain file keeps its own crash-safety: a batch is one SQL transaction in the
child exactly as in process.

How:

* the child is a fresh interpreter (``python -c``, not a fork: forking a server with running
  threads can copy a lock another thread holds; not :mod:`multiprocessing`'s ``spawn`` either,
  which re-runs the parent's main script) and owns the :class:`EmbeddedLedger` and its SQLite
  file; the parent imports no py-evm;
* a call is ``(method, args)``, pickled over a socket pair
  (:class:`multiprocessing.connection.Connection` framing), and one reply, ``("ok", value)`` or
  ``("err", exception)``; calls from several threads take turns on one lock, as they
  did on the in-process ledger's. Errors come back as the same :class:`~gridledger.errors.
  GridLedgerError` subclasses (a ``ContractError`` keeps its ``reason``); anything else the
  child raised (a bug) becomes a ``LedgerError`` naming it;
* :meth:`ProcessBackend.close` asks the child to close the chain and exit (the parent's
  ``close`` is part of ``gridledger serve``'s stop); the child ignores SIGINT and SIGTERM, so a
  Ctrl-C in the terminal reaches the server, which stops after its current step and then closes
  the chain;
* the child dies with its parent: it reads end-of-file from the pipe when the parent is gone,
  and a watchdog thread checks every :data:`WATCHDOG_S` that its parent is still the one that
  started it, so a SIGKILLed server leaves no chain process behind, even one that was mining.
  The restarted server's child waits up to :data:`LOCK_WAIT_S` for the file lock of a child
  that is still exiting.

Measured cost of the hop (a ``block_number()`` round trip) and its effect on ``gridledger
serve``: ``benchmarks/RESULTS.md``, "bench_api".
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gridledger.chain.backend import Log, Receipt
from gridledger.errors import GridLedgerError, LedgerError

if TYPE_CHECKING:
    from gridledger.chain.embedded.db import Synchronous

#: How often the child checks that its parent is alive [s].
WATCHDOG_S = 0.2
#: How long a new child waits for the chain file held by a dying one [s].
LOCK_WAIT_S = 30.0
#: How long the parent waits for the child to open the chain [s] (py-evm's import is ~1-2 s).
START_TIMEOUT_S = 120.0
#: How long :meth:`ProcessBackend.close` waits for the child to exit before killing it [s].
CLOSE_TIMEOUT_S = 30.0

#: The methods the child answers: the LedgerBackend protocol plus the embedded chain's extras.
_METHODS = frozenset(
    {
        "block_number",
        "nonce",
        "balance",
        "send_raw_transactions",
        "call",
        "estimate_gas",
        "get_logs",
        "code",
        "receipt",
        "fund",
        "storage",
        "disk_bytes",
        "checkpoint",
    }
)


class ProcessBackend:
    """A :class:`~gridledger.chain.backend.LedgerBackend` whose embedded chain runs in a child
    process (module docstring). The arguments are :class:`EmbeddedLedger`'s; ``lock_wait_s`` [s]
    is how long the child waits for a chain file another process holds."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        chain_id: int | None = None,
        gas_limit: int | None = None,
        synchronous: Synchronous = "FULL",
        lock_wait_s: float = LOCK_WAIT_S,
    ) -> None:
        self.path = Path(path)
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])  # the gridledger we run
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        self._mutex = threading.Lock()
        self._owed = 0  # replies not read yet (a call interrupted between send and receive)
        self._closed = False
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from gridledger.chain.process import child_main; child_main()",
                    str(theirs.fileno()),
                    str(self.path),
                    "" if chain_id is None else str(chain_id),
                    "" if gas_limit is None else str(gas_limit),
                    synchronous,
                    str(lock_wait_s),
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env=env,
            )
        finally:
            theirs.close()  # the child's end lives in the child only: its exit is our EOF
        self._conn = Connection(ours.detach())
        try:
            if not self._conn.poll(START_TIMEOUT_S):
                raise LedgerError(
                    f"the embedded chain process did not open {self.path} within "
                    f"{START_TIMEOUT_S:.0f} s; check the machine's load and the file's lock"
                )
            status, value = self._conn.recv()
        except BaseException as exc:
            self._stop_child(0.0)
            if isinstance(exc, EOFError | OSError):
                raise LedgerError(self._gone_message()) from exc
            raise
        if status != "ok":
            self._stop_child(CLOSE_TIMEOUT_S)
            raise value
        self._chain_id, self._gas_limit, self._gas_price, self._genesis_hash = value

    # --- the protocol's constants, known since the start ------------------------------------------

    @property
    def chain_id(self) -> int:
        """The chain id transactions and EIP-712 domains must carry."""
        return int(self._chain_id)

    def block_gas_limit(self) -> int:
        """Gas limit of the next block [gas] (constant on the embedded chain)."""
        return int(self._gas_limit)

    def gas_price(self) -> int:
        """Gas price the next block accepts [wei] (the embedded chain's constant base fee)."""
        return int(self._gas_price)

    @property
    def genesis_hash(self) -> bytes:
        """Hash of block 0."""
        return bytes(self._genesis_hash)

    @property
    def pid(self) -> int:
        """The chain process's id."""
        return self._process.pid

    # --- forwarded ----------------------------------------------------------------------------

    def block_number(self) -> int:
        """Number of the latest mined block."""
        return int(self._call("block_number"))

    def nonce(self, address: bytes) -> int:
        """Next transaction nonce of ``address``."""
        return int(self._call("nonce", address))

    def balance(self, address: bytes) -> int:
        """Native-currency balance of ``address`` [wei]."""
        return int(self._call("balance", address))

    def send_raw_transactions(self, raw_transactions: Sequence[bytes]) -> list[Receipt]:
        """Check, mine and persist signed transactions in the child (one SQL transaction)."""
        receipts: list[Receipt] = self._call("send_raw_transactions", list(raw_transactions))
        return receipts

    def call(self, to: bytes, data: bytes, sender: bytes | None = None) -> bytes:
        """A read-only call against the head state; ``ContractError`` on revert."""
        return bytes(self._call("call", to, data, sender))

    def estimate_gas(self, to: bytes | None, data: bytes, sender: bytes) -> int:
        """Gas a transaction would use now [gas]; ``ContractError`` on revert."""
        return int(self._call("estimate_gas", to, data, sender))

    def get_logs(
        self,
        address: bytes | None,
        from_block: int = 0,
        to_block: int | None = None,
        topic0: bytes | None = None,
    ) -> list[Log]:
        """Logs of ``address`` (``None``: any) in the block range (inclusive), by topic."""
        logs: list[Log] = self._call("get_logs", address, from_block, to_block, topic0)
        return logs

    def code(self, address: bytes) -> bytes:
        """Contract code at ``address`` (empty for plain accounts)."""
        return bytes(self._call("code", address))

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of a mined transaction, or ``None``."""
        found: Receipt | None = self._call("receipt", tx_hash)
        return found

    def fund(self, address: bytes, amount_wei: int) -> None:
        """Send ``amount_wei`` [wei] to ``address`` from the genesis faucet."""
        self._call("fund", address, amount_wei)

    def storage(self, address: bytes, slot: int) -> int:
        """Value of a storage slot of ``address`` at the head."""
        return int(self._call("storage", address, slot))

    def disk_bytes(self) -> int:
        """Size of the chain file, write-ahead log included [bytes]."""
        return int(self._call("disk_bytes"))

    def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the chain file."""
        self._call("checkpoint")

    def _call(self, method: str, *args: Any) -> Any:
        with self._mutex:
            if self._closed:
                raise LedgerError(f"the embedded chain {self.path} is closed; open it again")
            try:
                while self._owed:  # a reply an interrupted call left behind
                    self._conn.recv()
                    self._owed -= 1
                self._conn.send((method, args))
                self._owed += 1
                status, value = self._conn.recv()
                self._owed -= 1
            except (EOFError, OSError) as exc:
                self._closed = True
                self._stop_child(0.0)
                raise LedgerError(self._gone_message()) from exc
        if status != "ok":
            raise value
        return value

    def _gone_message(self) -> str:
        code = self._process.poll()
        return (
            f"the embedded chain process (pid {self._process.pid}) of {self.path} exited "
            f"(code {code}); restart the server: the chain resumes from its file"
        )

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the chain in the child and wait for it to exit (idempotent)."""
        with self._mutex:
            if self._closed:
                self._stop_child(0.0)
                return
            self._closed = True
            try:
                while self._owed:
                    self._conn.recv()
                    self._owed -= 1
                self._conn.send(("close", ()))
                if self._conn.poll(CLOSE_TIMEOUT_S):
                    self._conn.recv()
            except (EOFError, OSError):
                pass
            self._stop_child(CLOSE_TIMEOUT_S)

    def _stop_child(self, timeout_s: float) -> None:
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5.0)
        self._conn.close()

    def __enter__(self) -> ProcessBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid {self._process.pid}"
        return f"ProcessBackend({str(self.path)!r}, chain_id={self._chain_id}, {state})"


# --- the child ------------------------------------------------------------------------------------


def _portable(exc: BaseException) -> GridLedgerError:
    """``exc`` as an error the parent can unpickle and its caller expects."""
    if isinstance(exc, GridLedgerError):
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:  # an unpicklable attribute: keep the class's family and the message
            return LedgerError(str(exc))
    return LedgerError(f"the embedded chain process failed: {type(exc).__name__}: {exc}")


def _watch_parent(parent_pid: int) -> None:
    """Exit at once when the parent is gone (reparented), even in the middle of a batch: the
    batch is one SQL transaction, so the file keeps the head before it, as after any crash."""
    while True:
        time.sleep(WATCHDOG_S)
        if os.getppid() != parent_pid:
            os._exit(0)


def child_main() -> None:
    """The chain process (started by :class:`ProcessBackend`; arguments in ``sys.argv``: the
    socket's file descriptor, the chain file, chain id and gas limit or empty, the durability
    level, the lock wait [s], the parent's pid)."""
    fd, path, chain_id, gas_limit, synchronous, lock_wait_s, parent_pid = sys.argv[1:8]
    # the parent decides when the chain stops (after its current step); it dies, we die
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(int(parent_pid),), daemon=True).start()
    conn = Connection(int(fd))
    from gridledger.chain.embedded import EmbeddedLedger

    try:
        ledger = EmbeddedLedger(
            path,
            chain_id=int(chain_id) if chain_id else None,
            gas_limit=int(gas_limit) if gas_limit else None,
            synchronous=cast("Synchronous", synchronous),
            lock_wait_s=float(lock_wait_s),
        )
    except BaseException as exc:
        conn.send(("err", _portable(exc)))
        return
    try:
        conn.send(
            (
                "ok",
                (
                    ledger.chain_id,
                    ledger.block_gas_limit(),
                    ledger.gas_price(),
                    ledger.genesis_hash,
                ),
            )
        )
        while True:
            try:
                method, args = conn.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            if method == "close":
                ledger.close()
                conn.send(("ok", None))
                return
            try:
                if method not in _METHODS:
                    raise LedgerError(f"the embedded chain process does not answer {method!r}")
                reply: tuple[str, Any] = ("ok", getattr(ledger, method)(*args))
            except Exception as exc:
                reply = ("err", _portable(exc))
            conn.send(reply)
    except (EOFError, OSError):
        return  # the parent went away while we answered
    finally:
        ledger.close()


__all__ = ["ProcessBackend"]
