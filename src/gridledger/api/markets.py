"""Regions and their markets; the operator's operations on its region."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter

from gridledger.api.problems import PROBLEM_RESPONSES
from gridledger.api.schemas import (
    CompanyOut,
    DeviceRegisteredOut,
    MarketOut,
    RegionEnergyOut,
    RegionOut,
    RegionStatusOut,
    RegisterCompanyIn,
    RegisterDeviceIn,
    RegisteredOut,
    RegisterHouseholdIn,
    TariffIn,
    TariffSetOut,
)
from gridledger.api.session import Caller, PlatformDep
from gridledger.identity import checksum
from gridledger.market import GridTariff
from gridledger.service import monitor, operations, trading
from gridledger.service.access import Action, authorize

router = APIRouter(prefix="/api/v1/regions", tags=["regions"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[RegionOut], summary="The regions of this platform")
async def regions(platform: PlatformDep, caller: Caller) -> list[RegionOut]:
    authorize(caller, Action.READ_REGION)
    return [
        RegionOut(
            region=name,
            households=platform.queries.household_count(name),
            slot_seconds=s.slot_seconds,
            market_contract=checksum(s.operator.market.address),
            chain_id=platform.chain_id,
        )
        for name, s in sorted(platform.regions.items())
    ]


@router.get("/{region}/market", response_model=MarketOut, summary="Open slot, prices, volumes")
async def market(region: str, platform: PlatformDep, caller: Caller) -> MarketOut:
    return MarketOut(**trading.market_view(platform, caller, region))


@router.get("/{region}/companies", response_model=list[CompanyOut], summary="Energy companies")
async def companies(region: str, platform: PlatformDep, caller: Caller) -> list[CompanyOut]:
    return [CompanyOut(**c) for c in trading.companies(platform, caller, region)]


@router.get(
    "/{region}/energy", response_model=RegionEnergyOut, summary="Region energy (>= 5 households)"
)
def region_energy(
    region: str,
    platform: PlatformDep,
    caller: Caller,
    resolution: Literal["slot", "hour", "day"] = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
) -> RegionEnergyOut:
    return RegionEnergyOut(
        **monitor.region_energy(platform, caller, region, resolution, start, end)
    )


@router.get(
    "/{region}/status", response_model=RegionStatusOut, summary="Settlement status (operator)"
)
def status(region: str, platform: PlatformDep, caller: Caller) -> RegionStatusOut:
    return RegionStatusOut(**operations.region_status(platform, caller, region))


@router.post(
    "/{region}/households",
    response_model=RegisteredOut,
    status_code=201,
    summary="Register a household (operator)",
)
def register_household(
    region: str, body: RegisterHouseholdIn, platform: PlatformDep, caller: Caller
) -> RegisteredOut:
    out = operations.register_household(platform, caller, region, body.address, body.site_id)
    return RegisteredOut(**out)


@router.post(
    "/{region}/sites/{site_id}/devices",
    response_model=DeviceRegisteredOut,
    status_code=201,
    summary="Register a real device of a site (operator)",
)
def register_device(
    region: str, site_id: str, body: RegisterDeviceIn, platform: PlatformDep, caller: Caller
) -> DeviceRegisteredOut:
    out = operations.register_device(
        platform, caller, region, site_id, body.device_id, body.kind, body.address, body.params
    )
    return DeviceRegisteredOut(**out)


@router.post(
    "/{region}/companies",
    response_model=RegisteredOut,
    status_code=201,
    summary="Register an energy company (operator)",
)
def register_company(
    region: str, body: RegisterCompanyIn, platform: PlatformDep, caller: Caller
) -> RegisteredOut:
    return RegisteredOut(
        **operations.register_company(platform, caller, region, body.address, body.name)
    )


@router.put("/{region}/tariff", response_model=TariffSetOut, summary="Tariff of future slots")
def set_tariff(region: str, body: TariffIn, platform: PlatformDep, caller: Caller) -> TariffSetOut:
    tariff = GridTariff(
        retail_price_micro_per_kwh=body.retail_price_micro_per_kwh,
        feed_in_price_micro_per_kwh=body.feed_in_price_micro_per_kwh,
        grid_fee_micro_per_kwh=body.grid_fee_micro_per_kwh,
    )
    return TariffSetOut(
        **operations.set_tariff(platform, caller, region, body.from_slot_start_s, tariff)
    )
