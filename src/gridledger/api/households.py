"""A household's sites: the activity monitor (live power, energy history) and the activity plant
(installation, battery settings as signed commands, faults)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from gridledger.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, paginate
from gridledger.api.problems import PROBLEM_RESPONSES
from gridledger.api.schemas import (
    BatteryOut,
    CommandIn,
    CommandOut,
    CommandPrepareIn,
    EnergyRow,
    FaultOut,
    LiveOut,
    PreparedCommandOut,
    SaleCompanyIn,
    SiteDetailOut,
    SiteOut,
)
from gridledger.api.session import Caller, PlatformDep
from gridledger.monitor import Fault
from gridledger.service import battery, household_faults, monitor
from gridledger.service.access import AuthenticationError
from gridledger.service.plant_faults import fault_id
from gridledger.store import to_ms

router = APIRouter(prefix="/api/v1/sites", tags=["monitor and plant"], responses=PROBLEM_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]
SiteId = Annotated[str, Query(max_length=64)]


@router.get("", response_model=Page[SiteOut], summary="The sites the caller may see")
async def sites(
    platform: PlatformDep, caller: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[SiteOut]:
    if caller is None:
        raise AuthenticationError("sign in first")
    rows = [SiteOut(**s) for s in monitor.list_sites(platform, caller)]
    items, nxt = paginate(rows, lambda s: (s.site_id,), cursor, limit)
    return Page[SiteOut](items=items, next_cursor=nxt)


@router.get("/{site_id}", response_model=SiteDetailOut, summary="Installation and devices")
async def site(site_id: str, platform: PlatformDep, caller: Caller) -> SiteDetailOut:
    return SiteDetailOut(**monitor.site_detail(platform, caller, site_id))


@router.get("/{site_id}/live", response_model=LiveOut, summary="Live power and today's energy")
async def live(site_id: str, platform: PlatformDep, caller: Caller) -> LiveOut:
    return LiveOut(**monitor.live(platform, caller, site_id))


@router.get("/{site_id}/energy", response_model=list[EnergyRow], summary="Energy history")
def energy(
    site_id: str,
    platform: PlatformDep,
    caller: Caller,
    resolution: Literal["slot", "hour", "day"] = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[EnergyRow]:
    rows = monitor.history(platform, caller, site_id, resolution, start, end)
    return [EnergyRow(**r) for r in rows]


@router.get("/{site_id}/battery", response_model=BatteryOut, summary="Battery specs and settings")
async def get_battery(site_id: str, platform: PlatformDep, caller: Caller) -> BatteryOut:
    return BatteryOut(**monitor.battery(platform, caller, site_id))


@router.post(
    "/{site_id}/battery/commands",
    response_model=CommandOut,
    status_code=202,
    summary="Change a battery setting (a signed command to the accumulator)",
)
def post_command(
    site_id: str, body: CommandIn, platform: PlatformDep, caller: Caller
) -> CommandOut:
    record = battery.send_command(
        platform, caller, site_id, payload=body.payload, setting=body.setting, value=body.value
    )
    return CommandOut(**asdict(record))


@router.post(
    "/{site_id}/battery/commands/prepare",
    response_model=PreparedCommandOut,
    summary="EIP-712 data of a battery command to sign in the wallet",
)
def prepare_command(
    site_id: str, body: CommandPrepareIn, platform: PlatformDep, caller: Caller
) -> PreparedCommandOut:
    """The command ``setting = value`` with the next nonce: sign ``typed_data`` with
    ``eth_signTypedData_v4`` and send ``body`` + signature as ``payload`` to ``.../commands``."""
    out = battery.prepare_command(platform, caller, site_id, setting=body.setting, value=body.value)
    return PreparedCommandOut(**out)


@router.put(
    "/{site_id}/battery/sale-company",
    response_model=BatteryOut,
    summary="Choose the company the sell-to-company mode sells stored energy to",
)
def sale_company(
    site_id: str, body: SaleCompanyIn, platform: PlatformDep, caller: Caller
) -> BatteryOut:
    battery.choose_company(platform, caller, site_id, body.company)
    return BatteryOut(**monitor.battery(platform, caller, site_id))


@router.get(
    "/{site_id}/battery/commands", response_model=Page[CommandOut], summary="Commands and states"
)
async def list_commands(
    site_id: str,
    platform: PlatformDep,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[CommandOut]:
    rows = [CommandOut(**asdict(r)) for r in battery.commands_of(platform, caller, site_id)]
    items, nxt = paginate(rows, lambda c: (-c.created_ms, c.id), cursor, limit)
    return Page[CommandOut](items=items, next_cursor=nxt)


def fault_out(f: Fault) -> FaultOut:
    """The API's shape of a fault (times in ms since the epoch)."""
    return FaultOut(
        id=fault_id(f),
        site_id=f.site,
        kind=str(f.kind),
        opened_ms=to_ms(f.raised_at),
        closed_ms=None if f.closed_at is None else to_ms(f.closed_at),
        detail=f.explanation,
        device=f.device,
        severity=str(f.severity),
        status=str(f.status),
        first_seen_ms=to_ms(f.first_seen),
        last_seen_ms=to_ms(f.last_seen),
        evidence=dict(f.evidence),
        acknowledged_ms=None if f.acknowledged_at is None else to_ms(f.acknowledged_at),
        acknowledged_by=f.acknowledged_by,
    )


@router.get("/{site_id}/faults", response_model=Page[FaultOut], summary="Open and closed faults")
async def faults(
    site_id: str,
    platform: PlatformDep,
    caller: Caller,
    state: Literal["open", "acknowledged", "closed"] | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[FaultOut]:
    """Faults the live service found (open, acknowledged and closed, or those in ``state``),
    oldest first."""
    states = None if state is None else (state,)
    found = [fault_out(f) for f in household_faults.faults_of(platform, caller, site_id, states)]
    items, nxt = paginate(found, lambda f: (f.opened_ms, f.id), cursor, limit)
    return Page[FaultOut](items=items, next_cursor=nxt)


@router.post(
    "/{site_id}/faults/{fault_id}/acknowledge",
    response_model=FaultOut,
    summary="Acknowledge an open fault (the owner has seen it)",
)
def acknowledge_fault(
    site_id: str,
    fault_id: Annotated[str, Path(max_length=200)],
    platform: PlatformDep,
    caller: Caller,
) -> FaultOut:
    """The site's owner acknowledges the fault: it stays ``acknowledged`` until it closes.
    Again on an acknowledged fault: no change; on a closed one: 409; an unknown id: 404."""
    return fault_out(household_faults.acknowledge(platform, caller, site_id, fault_id))
