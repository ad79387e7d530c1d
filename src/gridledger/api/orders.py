"""Trading routes: orders (place, prepare for a wallet, cancel), sales to a company, fills; and
the energy company's offers and purchases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from gridledger.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, paginate
from gridledger.api.problems import PROBLEM_RESPONSES
from gridledger.api.schemas import (
    CancelIn,
    CancelTypedDataOut,
    CompanyOfferIn,
    CompanyOfferOut,
    FillOut,
    OrderIn,
    OrderOut,
    PreparedOut,
    PrepareOrderIn,
    SellToCompanyIn,
)
from gridledger.api.session import Caller, PlatformDep
from gridledger.identity import checksum
from gridledger.service import operations, trading
from gridledger.service.access import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["trading"], responses=PROBLEM_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]
OrderId = Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{64}$")]


@router.get("/orders", response_model=Page[OrderOut], summary="The caller's orders")
async def list_orders(
    platform: PlatformDep,
    caller: Caller,
    status: str | None = Query(None, max_length=16),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[OrderOut]:
    rows = [OrderOut(**o) for o in trading.list_orders(platform, caller)]
    if status is not None:
        rows = [o for o in rows if o.status == status]
    items, nxt = paginate(rows, lambda o: (-o.slot_start_s, o.order_id), cursor, limit)
    return Page[OrderOut](items=items, next_cursor=nxt)


@router.post("/orders", response_model=OrderOut, status_code=201, summary="Place an order")
def place(body: OrderIn, platform: PlatformDep, caller: Caller) -> OrderOut:
    out = trading.place_order(
        platform,
        caller,
        signed=None if body.signed is None else body.signed.model_dump(),
        region=body.region,
        side=body.side,
        energy_wh=body.energy_wh,
        price_micro_per_kwh=body.price_micro_per_kwh,
        slot_start_s=body.slot_start_s,
        target=body.target,
    )
    return OrderOut(**out)


@router.post("/orders/prepare", response_model=PreparedOut, summary="EIP-712 data to sign")
def prepare(body: PrepareOrderIn, platform: PlatformDep, caller: Caller) -> PreparedOut:
    return PreparedOut(
        **trading.prepare_order(
            platform,
            caller,
            region=body.region,
            side=body.side,
            energy_wh=body.energy_wh,
            price_micro_per_kwh=body.price_micro_per_kwh,
            slot_start_s=body.slot_start_s,
            target=body.target,
        )
    )


@router.post(
    "/orders/sell-to-company",
    response_model=OrderOut,
    status_code=201,
    summary="Sell stored energy to a chosen energy company",
)
def sell_to_company(body: SellToCompanyIn, platform: PlatformDep, caller: Caller) -> OrderOut:
    """An ask addressed to ``company``, priced at its offer less the network fee unless a price
    is given (server-signed for demo households; wallets use /orders with ``signed``)."""
    price = body.price_micro_per_kwh
    if price is None:
        offer = None
        for region in [body.region] if body.region else list(platform.regions):
            for c in trading.companies(platform, caller, region):
                if c["address"] == checksum(body.company) and c["offer"] is not None:
                    offer = c["offer"]
        if offer is None:
            raise NotFoundError("that company has no offer for the open slot")
        price = int(offer["net_price_micro_per_kwh"])
    out = trading.place_order(
        platform,
        caller,
        signed=None,
        region=body.region,
        side="ask",
        energy_wh=body.energy_wh,
        price_micro_per_kwh=price,
        slot_start_s=body.slot_start_s,
        target=body.company,
    )
    return OrderOut(**out)


@router.get(
    "/orders/{order_id}/cancel",
    response_model=CancelTypedDataOut,
    summary="EIP-712 data of a cancel to sign",
)
def cancel_data(order_id: str, platform: PlatformDep, caller: Caller) -> CancelTypedDataOut:
    return CancelTypedDataOut(**trading.cancel_typed_data(platform, caller, order_id))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, summary="Cancel an open order")
def cancel(order_id: str, body: CancelIn, platform: PlatformDep, caller: Caller) -> OrderOut:
    out = trading.cancel_order(
        platform, caller, order_id, signature=body.signature, nonce=body.nonce
    )
    return OrderOut(**out)


@router.get("/fills", response_model=Page[FillOut], summary="Settled trades of the caller")
async def fills(
    platform: PlatformDep, caller: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[FillOut]:
    rows = [FillOut(**f) for f in trading.fills(platform, caller)]
    items, nxt = paginate(rows, lambda f: (-f.slot_start_s, f.region, f.index), cursor, limit)
    return Page[FillOut](items=items, next_cursor=nxt)


# --- energy companies ------------------------------------------------------------------------


@router.get("/company/offers", response_model=list[CompanyOfferOut], tags=["company"])
async def offers(platform: PlatformDep, caller: Caller) -> list[CompanyOfferOut]:
    return [CompanyOfferOut(**o) for o in operations.company_offers(platform, caller)]


@router.post(
    "/company/offers",
    response_model=CompanyOfferOut,
    status_code=201,
    tags=["company"],
    summary="Post a per-slot buy offer",
)
def post_offer(body: CompanyOfferIn, platform: PlatformDep, caller: Caller) -> CompanyOfferOut:
    out = operations.post_offer(
        platform,
        caller,
        region=body.region,
        slot_start_s=body.slot_start_s,
        energy_wh=body.energy_wh,
        price_micro_per_kwh=body.price_micro_per_kwh,
        signed=None if body.signed is None else body.signed.model_dump(),
    )
    return CompanyOfferOut(**out)


@router.delete(
    "/company/offers/{slot_start_s}",
    status_code=204,
    tags=["company"],
    summary="Withdraw an offer before gate closure",
)
def withdraw(
    slot_start_s: int,
    platform: PlatformDep,
    caller: Caller,
    region: str | None = Query(None, max_length=32),
) -> Response:
    if not operations.withdraw_offer(platform, caller, region, slot_start_s):
        raise NotFoundError(f"no offer of yours for slot {slot_start_s}")
    return Response(status_code=204)


@router.get("/company/purchases", response_model=Page[FillOut], tags=["company"])
def company_purchases(
    platform: PlatformDep, caller: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[FillOut]:
    rows = [FillOut(**f) for f in operations.purchases(platform, caller)]
    items, nxt = paginate(rows, lambda f: (-f.slot_start_s, f.region, f.index), cursor, limit)
    return Page[FillOut](items=items, next_cursor=nxt)


_ = OrderId
