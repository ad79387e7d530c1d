"""An append-only JSON-lines journal in the data directory (fsync'd per entry).

The service keeps here what it accepted but the store does not hold yet: the signed orders,
cancels and company offers of slots not settled (the store records a slot's orders only with its
settlement, and ``gridledger verify`` checks that every stored order belongs to the settled
book), and the battery commands it sent. After a SIGKILL, a restart replays the journal: no
accepted order is lost, and a slot whose gate closed meanwhile is cleared (once) from it.

A torn last line (a crash mid-write) is ignored: its entry was never acknowledged.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gridledger.errors import StoreError


class Journal:
    """JSON objects, one per line, in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path.parent}: {exc}") from exc

    def append(self, entry: dict[str, Any]) -> None:
        """Write one entry durably (returns once it is on disk)."""
        line = (json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n").encode()
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise StoreError(f"cannot write the journal {self.path}: {exc}") from exc

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every complete entry, in order."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read the journal {self.path}: {exc}") from exc
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # a torn last line: never acknowledged
            if isinstance(entry, dict):
                yield entry

    def rewrite(self, entries: list[dict[str, Any]]) -> None:
        """Replace the journal atomically with ``entries`` (compaction)."""
        tmp = self.path.with_suffix(".tmp")
        body = "".join(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n" for e in entries)
        with self._lock:
            try:
                with open(tmp, "w") as f:
                    f.write(body)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:
                raise StoreError(f"cannot rewrite the journal {self.path}: {exc}") from exc
