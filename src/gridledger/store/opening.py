"""Open a store by URL: the factory over both backends.

It lives apart from :mod:`~gridledger.store.base` so the interface never imports its own
implementations (which import it).
"""

from __future__ import annotations

from pathlib import Path

from gridledger.errors import StoreError
from gridledger.store.base import Store


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (creating and migrating if needed) the store at ``url``.

    ``sqlite:///PATH`` opens an SQLite file (parent directories are created);
    ``postgresql://...`` or ``postgres://...`` connects to PostgreSQL. Raise :class:`StoreError`
    for an unknown scheme, an unreachable server or a database newer than this code. With
    ``create=False`` a missing SQLite file is an error instead (``gridledger verify`` never
    creates what it checks).
    """
    if not isinstance(url, str) or not url:
        raise StoreError(
            f"store URL must be a non-empty string, got {url!r}; "
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        )
    if url.startswith("sqlite:"):
        from gridledger.store.sqlite import SqliteStore, sqlite_path

        path = sqlite_path(url)
        if not create and path != ":memory:" and not Path(path).is_file():
            raise StoreError(
                f"there is no store at {path}: check data_dir / store_url, or run "
                "gridledger simulate --settle (or gridledger serve) to make one"
            )
        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from gridledger.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(
        f"unsupported store URL {url!r}; use sqlite:///PATH (SQLite file) or "
        "postgresql://USER@HOST:PORT/DB (PostgreSQL)"
    )
