"""Cursor pagination of every list: ``?limit=N&cursor=...`` and ``next_cursor`` in the page.

A cursor is opaque to clients: the URL-safe base64 of the sort key of the last item returned, so
a page continues after that item even when items are added before it (keyset pagination).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from gridledger.errors import ValidationError

T = TypeVar("T")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except ValueError:
        raise ValidationError("cursor is not one this API returned; start without it") from None
    if not isinstance(key, list) or not all(isinstance(k, int | str) for k in key):
        raise ValidationError("cursor is not one this API returned; start without it")
    return key


def paginate(
    items: Sequence[T], key: Callable[[T], tuple[Any, ...]], cursor: str | None, limit: int
) -> tuple[list[T], str | None]:
    """Items after ``cursor`` in ``key`` order (``items`` sorted by it), at most ``limit``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be 1..{MAX_LIMIT}, got {limit}")
    rows = sorted(items, key=key)
    if cursor is not None:
        after = decode_cursor(cursor)
        try:
            rows = [r for r in rows if list(key(r)) > after]
        except TypeError:
            raise ValidationError("cursor does not belong to this list") from None
    page = rows[:limit]
    more = len(rows) > limit
    return page, encode_cursor(key(page[-1])) if more and page else None
