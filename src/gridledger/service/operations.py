"""The region operator's and the energy companies' operations.

An operator registers households and companies in its region (on chain, with escrow from the
city's token issuer, and in the store), sets the tariff of future slots, and sees its market's
settlement status and each stage's lag. A company posts per-slot buy offers (signed by its key:
the server's for the demo company, or its wallet's), withdraws them while the gate is open, and
sees what it bought.
"""

from __future__ import annotations

from typing import Any

from gridledger.errors import OrderError
from gridledger.identity import ORDER, address_bytes, checksum
from gridledger.ledger.registry import Role as ChainRole
from gridledger.ledger.settlement import SlotStatus
from gridledger.market import GridTariff, Order, Side
from gridledger.service.access import (
    Action,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    Principal,
    authorize,
)
from gridledger.service.platform import HOUSEHOLD_DEPOSIT_MICRO, Platform
from gridledger.service.region import RegionService
from gridledger.service.trading import fills
from gridledger.store import DEVICE_KINDS


def region_status(platform: Platform, principal: Principal | None, region: str) -> dict[str, Any]:
    """Settlement status of the region's recent slots, lag per stage and totals."""
    authorize(principal, Action.OPERATE_REGION, region=region)
    service = platform.region(region)
    settlements = platform.queries.settlements(region)
    market = service.operator.market
    recent = []
    for s in settlements[-24:]:
        status = market.slot(s.slot_start_s).status
        recent.append(
            {
                "slot_start_s": s.slot_start_s,
                "status": SlotStatus(status).name.lower(),
                "trades": len(platform.queries.trades(region, s.slot_start_s)),
                "tx_hashes": ["0x" + h.hex() for h in s.tx_hashes],
                "block_number": s.block_number,
            }
        )
    lag = {}
    for stage in ("ingest", "clearing", "delivery"):
        lag[stage] = platform.metrics.lag.labels(region, stage)._value.get()
    return {
        "region": region,
        "households": platform.queries.household_count(region),
        "sites": len(platform.queries.sites(region)),
        "settled_slots": len(settlements),
        "open_slot_start_s": service.open_slot().start_s,
        "recent": list(reversed(recent)),
        "lag_s": lag,
        "rejections": platform.queries.rejection_counts(),
        "operator_escrow_micro": market.escrow_of(service.operator.operator.address_bytes),
        "tariffs": [
            {"from_slot_start_s": start, **t.to_dict()} for start, t in service.tariff_schedule()
        ],
    }


def register_household(
    platform: Platform,
    principal: Principal | None,
    region: str,
    address: str,
    site_id: str | None,
) -> dict[str, Any]:
    """Register ``address`` as a household of the region (chain + escrow + a site in the store)."""
    authorize(principal, Action.OPERATE_REGION, region=region)
    service = platform.region(region)
    raw = address_bytes(address, "address")
    role = service.chain_role(raw)
    if role not in (ChainRole.NONE, ChainRole.HOUSEHOLD):
        raise ConflictError(f"{checksum(raw)} is registered already as {role.name.lower()}")
    service.operator.onboard(platform.admin, [raw], deposit_micro=HOUSEHOLD_DEPOSIT_MICRO)
    site = site_id or f"{region}-{raw.hex()[:8]}"
    existing = platform.queries.site(site)
    if existing is not None and bytes(existing.owner) != raw:
        raise ConflictError(f"site {site!r} exists and belongs to another account")
    platform.queries.add_site(site, region, raw, platform.clock.now_ms())
    platform.accounts_changed()
    return {"address": checksum(raw), "region": region, "site_id": site, "role": "household"}


def register_device(
    platform: Platform,
    principal: Principal | None,
    region: str,
    site_id: str,
    device_id: str,
    kind: str,
    address: str,
    params: dict[str, int],
) -> dict[str, Any]:
    """Register a real device of a site in the region (its signing address), so ingest accepts
    its signed readings from the transport (e.g. MQTT)."""
    authorize(principal, Action.OPERATE_REGION, region=region)
    platform.region(region)
    site = platform.queries.site(site_id)
    if site is None or site.region != region:
        raise NotFoundError(f"no site {site_id!r} in region {region!r}; register the household")
    if kind not in DEVICE_KINDS:
        raise OrderError(f"kind must be one of {', '.join(DEVICE_KINDS)}, got {kind!r}")
    raw = address_bytes(address, "address")
    existing = platform.queries.device(device_id)
    if existing is not None and (existing.site_id != site_id or bytes(existing.address) != raw):
        raise ConflictError(f"device {device_id!r} exists with another site or address")
    platform.queries.add_device(device_id, site_id, kind, raw, params)
    platform.registry_changed()
    return {"device_id": device_id, "site_id": site_id, "kind": kind, "address": checksum(raw)}


def register_company(
    platform: Platform, principal: Principal | None, region: str, address: str, name: str
) -> dict[str, Any]:
    authorize(principal, Action.OPERATE_REGION, region=region)
    service = platform.region(region)
    raw = address_bytes(address, "address")
    role = service.chain_role(raw)
    if role not in (ChainRole.NONE, ChainRole.COMPANY):
        raise ConflictError(f"{checksum(raw)} is registered already as {role.name.lower()}")
    service.operator.onboard(
        platform.admin, [raw], deposit_micro=HOUSEHOLD_DEPOSIT_MICRO, role=ChainRole.COMPANY
    )
    service.register_company(checksum(raw), name)
    platform.accounts_changed()
    return {"address": checksum(raw), "region": region, "name": name, "role": "company"}


def set_tariff(
    platform: Platform,
    principal: Principal | None,
    region: str,
    from_slot_start_s: int,
    tariff: GridTariff,
) -> dict[str, Any]:
    authorize(principal, Action.OPERATE_REGION, region=region)
    service = platform.region(region)
    service.schedule_tariff(from_slot_start_s, tariff)
    return {"region": region, "from_slot_start_s": from_slot_start_s, **tariff.to_dict()}


def _company_service(platform: Platform, p: Principal, region: str | None) -> RegionService:
    regions = sorted(p.company_regions)
    name = region or (regions[0] if len(regions) == 1 else None)
    if name is None:
        raise OrderError("name the region (region)")
    authorize(p, Action.COMPANY, region=name)
    return platform.region(name)


def company_offers(platform: Platform, principal: Principal | None) -> list[dict[str, Any]]:
    p = authorize(principal, Action.COMPANY)
    out = []
    for name in sorted(p.company_regions):
        service = platform.region(name)
        for state in service.orders_of(p.address):
            o = state.order
            if o.is_bid and state.status in ("open",):
                out.append(
                    {
                        "order_id": "0x" + o.order_id.hex(),
                        "region": name,
                        "slot_start_s": o.slot_start_s,
                        "energy_wh": o.energy_wh,
                        "price_micro_per_kwh": o.price_micro_per_kwh,
                        "status": state.status,
                    }
                )
    return sorted(out, key=lambda o: (o["slot_start_s"], o["order_id"]))


def post_offer(
    platform: Platform,
    principal: Principal | None,
    *,
    region: str | None,
    slot_start_s: int | None,
    energy_wh: int,
    price_micro_per_kwh: int,
    signed: dict[str, Any] | None,
) -> dict[str, Any]:
    p = authorize(principal, Action.COMPANY, region=region)
    service = _company_service(platform, p, region)
    if signed is not None:
        offer = Order.from_dict(signed)
        if address_bytes(offer.owner) != address_bytes(p.address):
            raise ForbiddenError("the offer's owner is not the signed-in company")
    else:
        signer = platform.signer_for(p.address)
        if signer is None:
            raise ForbiddenError("sign the offer in your wallet and send it as 'signed'")
        slot = slot_start_s if slot_start_s is not None else service.open_slot().start_s
        unsigned = Order(
            region=service.name,
            slot_start_s=slot,
            side=Side.BID,
            energy_wh=energy_wh,
            price_micro_per_kwh=price_micro_per_kwh,
            owner=p.address,
            nonce=service.next_nonce(signer.address_bytes),
        )
        offer = unsigned.with_signature(
            service.operator.domain.sign(signer, ORDER, unsigned.message)
        )
    service.post_offer(offer)
    return {
        "order_id": "0x" + offer.order_id.hex(),
        "region": service.name,
        "slot_start_s": offer.slot_start_s,
        "energy_wh": offer.energy_wh,
        "price_micro_per_kwh": offer.price_micro_per_kwh,
        "status": "open",
    }


def withdraw_offer(
    platform: Platform, principal: Principal | None, region: str | None, slot_start_s: int
) -> bool:
    p = authorize(principal, Action.COMPANY, region=region)
    service = _company_service(platform, p, region)
    return service.withdraw_offer(p.address, slot_start_s)


def purchases(platform: Platform, principal: Principal | None) -> list[dict[str, Any]]:
    authorize(principal, Action.COMPANY)
    return [f for f in fills(platform, principal) if f["side"] == "purchase"]
