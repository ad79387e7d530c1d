"""Archive routes: entries with filters, totals by day or month, a streaming CSV, trade proofs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from gridledger.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, paginate
from gridledger.api.problems import PROBLEM_RESPONSES
from gridledger.api.schemas import ArchiveEntryOut, ProofOut, TotalsOut
from gridledger.api.session import Caller, PlatformDep
from gridledger.service import archive

router = APIRouter(prefix="/api/v1/archive", tags=["archive"], responses=PROBLEM_RESPONSES)

Kind = Literal["sale", "purchase", "delivery"]
Counterparty = Literal["household", "company", "grid"]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.get("", response_model=Page[ArchiveEntryOut], summary="Sales, purchases, deliveries")
def entries(
    platform: PlatformDep,
    caller: Caller,
    start: datetime | None = None,
    end: datetime | None = None,
    kind: Kind | None = None,
    counterparty: Counterparty | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ArchiveEntryOut]:
    rows = archive.entries(
        platform, caller, start=start, end=end, kind=kind, counterparty=counterparty
    )
    models = [ArchiveEntryOut(**r) for r in rows]
    items, nxt = paginate(
        models, lambda e: (e.slot_start_s, e.region, e.kind, e.index), cursor, limit
    )
    return Page[ArchiveEntryOut](items=items, next_cursor=nxt)


@router.get("/totals", response_model=list[TotalsOut], summary="Totals by day or month (UTC)")
def totals(
    platform: PlatformDep,
    caller: Caller,
    by: Literal["day", "month"] = "day",
    start: datetime | None = None,
    end: datetime | None = None,
    kind: Kind | None = None,
) -> list[TotalsOut]:
    rows = archive.entries(platform, caller, start=start, end=end, kind=kind)
    return [TotalsOut(**t) for t in archive.totals(rows, by)]


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="The archive as CSV (streamed)",
)
def export_csv(
    platform: PlatformDep,
    caller: Caller,
    start: datetime | None = None,
    end: datetime | None = None,
    kind: Kind | None = None,
    counterparty: Counterparty | None = None,
) -> StreamingResponse:
    rows = archive.entries(
        platform, caller, start=start, end=end, kind=kind, counterparty=counterparty
    )
    return StreamingResponse(
        archive.csv_chunks(rows),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="gridledger-archive.csv"'},
    )


@router.get(
    "/trades/{region}/{slot_start_s}/{index}/proof",
    response_model=ProofOut,
    summary="A trade's on-chain record and Merkle proof (checked by the server)",
)
def proof(
    region: Annotated[str, Path(max_length=32)],
    slot_start_s: Annotated[int, Path(ge=0, le=2**40)],
    index: Annotated[int, Path(ge=0, le=2**31)],
    platform: PlatformDep,
    caller: Caller,
) -> ProofOut:
    return ProofOut(**archive.trade_proof(platform, caller, region, slot_start_s, index))
