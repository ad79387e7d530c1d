"""Exit codes of the ``gridledger`` command: one per error class, and the one-line message.

Every command ends with one of :data:`EXIT_CODES`; ``docs/cli.md`` prints the same table and a test
keeps the two equal. An error is looked up by its class, most specific first, so a new subclass of
a listed error takes its parent's code. Anything not listed is a bug (exit 70, "internal error").

The table is data (not an ``exit_code`` attribute on each error) because exit codes are a property
of the command line, not of the library: the API maps the same classes to HTTP statuses.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from dataclasses import dataclass

from gridledger.errors import (
    ConfigError,
    GridLedgerError,
    IntegrityError,
    KeystoreError,
    LedgerError,
    MarketError,
    NodeError,
    StoreError,
    TelemetryError,
    ValidationError,
    VerificationError,
)


@dataclass(frozen=True)
class ExitCode:
    """One exit code: its number, a short name, and the error classes it covers."""

    code: int
    name: str
    covers: tuple[type[BaseException], ...]
    meaning: str


OK = 0
MISMATCH = 1
USAGE = 2
INTERNAL = 70
INTERRUPTED = 130

#: Most specific first: the first entry whose ``covers`` matches an error gives its code.
EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(
        MISMATCH,
        "mismatch",
        (VerificationError, IntegrityError),
        "a check found data that does not match its record (verify, --expect-hash)",
    ),
    ExitCode(3, "config", (ConfigError,), "a setting or settings file is refused"),
    ExitCode(
        4,
        "input",
        (ValidationError, UnicodeError),
        "an input (option, document, order, time) is refused",
    ),
    ExitCode(5, "keystore", (KeystoreError,), "a key is missing, locked or its file is corrupt"),
    ExitCode(
        6, "market", (MarketError,), "a market operation in the wrong state, re-clear differs"
    ),
    ExitCode(7, "store", (StoreError, sqlite3.Error), "the store cannot be opened or written"),
    ExitCode(
        9,
        "network",
        (NodeError, ConnectionError, TimeoutError, socket.gaierror),
        "a node or server is unreachable, timed out or answered garbage",
    ),
    ExitCode(8, "ledger", (LedgerError,), "the chain refused or could not run a transaction"),
    ExitCode(10, "telemetry", (TelemetryError,), "the telemetry transport failed"),
    ExitCode(11, "file", (OSError,), "a file or directory cannot be read or written"),
    ExitCode(12, "error", (GridLedgerError,), "any other refusal by gridledger"),
)

#: Codes that do not come from an error class (documented with the table).
OTHER_CODES: tuple[tuple[int, str, str], ...] = (
    (OK, "ok", "success"),
    (USAGE, "usage", "bad option or argument (click usage error), or input ended at a prompt"),
    (INTERNAL, "internal", "an unexpected error: a bug; re-run with --debug and report it"),
    (INTERRUPTED, "interrupted", "Ctrl-C or SIGINT; what was completed stays, a re-run resumes"),
)

#: Every exit code a command can return.
ALL_CODES: frozenset[int] = frozenset(
    [e.code for e in EXIT_CODES] + [code for code, _, _ in OTHER_CODES]
)


def exit_code_for(exc: BaseException) -> int:
    """The exit code of ``exc`` (:data:`INTERNAL` for anything not in :data:`EXIT_CODES`)."""
    for entry in EXIT_CODES:
        if isinstance(exc, entry.covers):
            return entry.code
    return INTERNAL


def _hint(exc: BaseException) -> str | None:
    """The fix for an error that did not come from gridledger (whose messages carry their own)."""
    if isinstance(exc, GridLedgerError):
        return None
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return (
            "another process holds the store; wait for it to finish or stop it, then run the "
            "command again (it resumes)"
        )
    if isinstance(exc, sqlite3.Error):
        return "check that store_url names a gridledger SQLite database and the disk is writable"
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return "check the URL in the settings and that the service there is running"
    if isinstance(exc, PermissionError):
        return "check the permissions of the file or directory"
    if isinstance(exc, FileNotFoundError):
        return "check the path (and data_dir in the settings)"
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return "a directory was found where a file is needed, or the reverse; check the path"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk is full; free space and run the command again"
    if isinstance(exc, OSError):
        return "check the path and the file system"
    if isinstance(exc, UnicodeError):
        return "save the input as UTF-8 text"
    return None


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: class name, message (newlines folded, at most 2,000 characters) and,
    for errors from outside gridledger, the usual fix."""
    text = " ".join(str(exc).split()) or repr(exc)
    if len(text) > 2000:
        text = text[:2000] + "..."
    hint = _hint(exc)
    return f"{type(exc).__name__}: {text}" + (f"; {hint}" if hint else "")
