"""The live stream (Server-Sent Events, sse-starlette): power per device, slot cleared, trade
settled, delivery settled, command state, fault, demand-response alert.

A subscriber sees only what it may: ``alert`` events of its own sites only; ``power``,
``command`` and ``fault`` events of its own sites
(all sites of its regions for an operator, everything for the admin), ``trade_settled`` where its
account is a party, region-wide events (``slot_cleared``, ``delivery_settled``) of any region.
Each event's ``data`` is JSON with its kind, region and ``published_ms`` (so a client measures
the lag).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sse_starlette.sse import EventSourceResponse

from gridledger.api.problems import PROBLEM_RESPONSES
from gridledger.api.session import Caller, PlatformDep
from gridledger.service.access import AuthenticationError, Principal
from gridledger.service.events import EVENT_KINDS, Event

router = APIRouter(prefix="/api/v1", tags=["stream"], responses=PROBLEM_RESPONSES)
PING_S = 15


@functools.lru_cache(maxsize=4096)
def shared_filter(p: Principal, kinds: frozenset[str]) -> Any:
    """One filter object per (principal, kinds): the bus decides once per event for all the
    subscribers that share it (1,000 tabs of one household cost one check)."""
    return event_filter(p, set(kinds))


def event_filter(p: Principal, kinds: set[str]) -> Any:
    account = p.address.lower()

    def accept(e: Event) -> bool:
        if e.kind not in kinds:
            return False
        if e.kind == "alert":
            return e.site in p.sites  # a household's alerts are its own, not its operator's
        if e.site is not None:
            return e.site in p.sites or p.is_admin or e.region in p.operator_regions
        if e.accounts:
            return account in e.accounts or p.is_admin or e.region in p.operator_regions
        return True

    return accept


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    summary="Live events (Server-Sent Events)",
)
async def stream(
    request: Request,
    platform: PlatformDep,
    caller: Caller,
    kinds: Annotated[str | None, Query(max_length=200, description="comma-separated")] = None,
) -> EventSourceResponse:
    if caller is None:
        raise AuthenticationError("sign in first")
    wanted = set(EVENT_KINDS) if not kinds else {k.strip() for k in kinds.split(",")}
    sub = platform.bus.subscribe(shared_filter(caller, frozenset(wanted & set(EVENT_KINDS))))
    platform.metrics.stream_subscribers.inc()

    async def events() -> AsyncIterator[dict[str, str] | bytes]:
        try:
            yield {"event": "hello", "data": json.dumps({"kinds": sorted(wanted)})}
            while True:
                e = await sub.get()
                # frames encoded once by the bus; what queued meanwhile goes in the same write
                more = sub.drain()
                yield e.sse if not more else b"".join([e.sse, *(m.sse for m in more)])
        finally:
            platform.bus.unsubscribe(sub)
            platform.metrics.stream_subscribers.dec()

    return EventSourceResponse(events(), ping=PING_S)
