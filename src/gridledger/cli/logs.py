"""Structured log lines on stderr: one ``key=value`` line per record, through :mod:`logging`.

The ``gridledger`` logger (and so every module's ``logging.getLogger(__name__)``) gets one handler
on the current stderr at the ``log_level`` setting; other libraries' loggers are left alone. A line
looks like::

    ts=2026-06-21T10:00:00.123Z level=INFO logger=gridledger.telemetry.ingest msg="batch stored" \
stored=500

Values with spaces, quotes or ``=`` are JSON-quoted, so a line splits unambiguously with
``shlex.split``. Fields passed as ``extra=`` to a log call become extra ``key=value`` pairs.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

ROOT_LOGGER = "gridledger"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _value(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t\\') or not text.isprintable():
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    """Formats a record as one ``key=value`` line (UTC timestamp with milliseconds)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        fields: dict[str, object] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                fields[key] = value
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return " ".join(f"{key}={_value(value)}" for key, value in fields.items())


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (the CLI's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str) -> logging.Logger:
    """Send the ``gridledger`` loggers' records at ``level`` and above to stderr, one per line.

    Idempotent: a second call replaces the handler of the first and sets the new level.
    """
    if level.upper() not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(KeyValueFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    return logger
