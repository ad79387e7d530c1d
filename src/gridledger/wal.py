"""SQLite files in WAL mode, opened safely by several connections at once.

Both the store's SQLite backend and the embedded chain's key-value file use it; it lives in the
shared core so the EVM engines need not import the store (and, through it, the market).
"""

from __future__ import annotations

import sqlite3
import time


def enter_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch ``conn``'s database to WAL mode, waiting up to ``timeout_s`` [s] for other openers.

    Switching a fresh file to WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY at once,
    without its busy handler, when another connection opens the same file at that moment; so the
    switch is retried here for as long as a writer would wait.
    """
    deadline = time.monotonic() + timeout_s
    delay_s = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay_s > deadline:
                raise
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.05)
