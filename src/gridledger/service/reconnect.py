"""A store that reconnects: the live platform outlives a restart of its PostgreSQL server.

The store backends open one connection and report every failure as
:class:`~gridledger.errors.StoreError`; a batch is one transaction and never half applied. When
a call fails and the backend's connection is gone (psycopg marks it ``closed`` or ``broken``),
:class:`ReconnectingStore` opens the store again from its URL and retries the call once. Every
write the service makes is idempotent (rows already stored are skipped) or checked first, so a
retried batch whose commit did reach the server before the connection broke is harmless. While
the server is down the call raises, and the service's stages retry on their next step.

(A reconnect inside ``store/postgres.py`` itself would serve every user of the store; this wrapper
keeps the change inside the service until then.)
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from gridledger.errors import StoreError
from gridledger.store import Store, open_store

log = logging.getLogger(__name__)


class ReconnectingStore:
    """Delegates to the store opened from ``url``; reopens it when its connection broke."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._store = open_store(url)
        self._lock = threading.Lock()
        self.reconnects = 0

    @classmethod
    def open(cls, url: str) -> Store:
        return cast(Store, cls(url))

    def _broken(self) -> bool:
        conn = getattr(self._store, "_conn", None)
        return bool(getattr(conn, "closed", False) or getattr(conn, "broken", False))

    def _reopen(self, failed: Store) -> None:
        with self._lock:
            if self._store is not failed:
                return  # another thread reopened it already
            with contextlib.suppress(StoreError):
                failed.close()
            self._store = open_store(self._url)
            self.reconnects += 1
            log.warning("store %s: reconnected (%d)", self._store.url, self.reconnects)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr) or name in ("close", "__enter__", "__exit__"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            store = self._store
            method: Callable[..., Any] = getattr(store, name)
            try:
                return method(*args, **kwargs)
            except StoreError:
                if not self._broken():
                    raise
            self._reopen(store)
            return getattr(self._store, name)(*args, **kwargs)

        return call

    def close(self) -> None:
        self._store.close()
