"""Demand response in the household API: a site's events, participation and alerts, opting out,
and the client credentials of the OpenADR VTN (a site's VEN, a region's BL).

The VTN itself is :mod:`gridledger.api.vtn` (``/openadr3/3.0.1``); these routes are the
``/api/v1`` side a household's app and an operator's tools use.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, model_validator

from gridledger.api.problems import PROBLEM_RESPONSES
from gridledger.api.schemas import Strict
from gridledger.api.session import Caller, PlatformDep
from gridledger.api.vtn import VTN_PREFIX
from gridledger.service import demand_response
from gridledger.service.vtn import Issued

router = APIRouter(prefix="/api/v1", tags=["demand response"], responses=PROBLEM_RESPONSES)


class CredentialsOut(BaseModel):
    """OAuth 2 client credentials of the VTN (the secret is shown once)."""

    client_id: str
    client_secret: str
    region: str
    ven_name: str | None = Field(description="The VEN's name in event targets; null for a BL")
    vtn_url: str = Field(description="The VTN's base URL")
    token_url: str


class ProgramPart(BaseModel):
    program_id: str
    name: str
    long_name: str
    opted_out: bool


class EventPart(BaseModel):
    event_id: str
    program_id: str
    name: str
    payload_type: Literal["PRICE", "IMPORT_CAPACITY_LIMIT", "SIMPLE", "ALERT_OTHER"]
    units: str | None
    start: str
    end: str
    values: list[float | str]
    status: Literal["upcoming", "active", "ended"]
    takes_part: bool
    opted_out_of_event: bool
    baseline_wh: int | None = Field(description="Reported baseline over the event [Wh]")
    usage_wh: int | None = Field(description="Reported grid import over the event [Wh]")
    report_id: str | None


class AlertOut(BaseModel):
    alert: Literal["event", "notice", "excess", "report"]
    text: str
    event_id: str | None


class DemandResponseOut(BaseModel):
    site_id: str
    region: str
    ven_name: str
    programs: list[ProgramPart]
    events: list[EventPart]
    alerts: list[AlertOut]


class OptOutIn(Strict):
    """Out of (or back into) one program or one event: give exactly one of the two ids."""

    program_id: str | None = Field(default=None, min_length=1, max_length=128)
    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    opted_out: bool = True

    @model_validator(mode="after")
    def _one(self) -> OptOutIn:
        if (self.program_id is None) == (self.event_id is None):
            raise ValueError("give exactly one of program_id and event_id")
        return self


def _credentials(issued: Issued, request: Request) -> CredentialsOut:
    base = str(request.base_url).rstrip("/") + VTN_PREFIX
    return CredentialsOut(
        client_id=issued.client_id,
        client_secret=issued.client_secret,
        region=issued.region,
        ven_name=issued.ven_name,
        vtn_url=base,
        token_url=base + "/auth/token",
    )


@router.get(
    "/sites/{site_id}/demand-response",
    response_model=DemandResponseOut,
    summary="Events, participation, reported response and alerts of a site",
)
def site_demand_response(site_id: str, platform: PlatformDep, caller: Caller) -> DemandResponseOut:
    return DemandResponseOut(**demand_response.view(platform, caller, site_id))


@router.put(
    "/sites/{site_id}/demand-response/opt-out",
    response_model=DemandResponseOut,
    summary="Opt a site out of (or back into) a program or one event",
)
def opt_out(
    site_id: str, body: OptOutIn, platform: PlatformDep, caller: Caller
) -> DemandResponseOut:
    view = demand_response.set_opt_out(
        platform, caller, site_id, program_id=body.program_id, event_id=body.event_id,
        opted_out=body.opted_out,
    )  # fmt: skip
    return DemandResponseOut(**view)


@router.post(
    "/sites/{site_id}/ven-credentials",
    response_model=CredentialsOut,
    status_code=201,
    summary="New OpenADR client credentials for the site's VEN",
)
def ven_credentials(
    site_id: str, request: Request, platform: PlatformDep, caller: Caller
) -> CredentialsOut:
    return _credentials(demand_response.ven_credentials(platform, caller, site_id), request)


@router.post(
    "/regions/{region}/vtn-credentials",
    response_model=CredentialsOut,
    status_code=201,
    summary="New OpenADR client credentials for the region's business logic (operator)",
)
def bl_credentials(
    region: str, request: Request, platform: PlatformDep, caller: Caller
) -> CredentialsOut:
    return _credentials(demand_response.bl_credentials(platform, caller, region), request)
