"""Trading: the region's market, companies and offers, a household's orders and fills.

Orders reach the market only through :class:`~gridledger.service.region.RegionService`; here the
caller's rights are checked (:func:`~gridledger.service.access.authorize`) and orders are signed
by the server for demo accounts (their keys are the server's) or taken as signed by a wallet
(EIP-712, the typed data from :func:`prepare_order`). An order's owner must be the signed-in
account: an order signed by another key is refused before the market sees it.
"""

from __future__ import annotations

from typing import Any

from gridledger.errors import OrderError
from gridledger.identity import CANCEL, ORDER, ZERO_ADDRESS, address_bytes, checksum
from gridledger.market import Cancel, Order, Side
from gridledger.service.access import (
    Action,
    ForbiddenError,
    NotFoundError,
    Principal,
    authorize,
    require_aggregate,
)
from gridledger.service.platform import Platform
from gridledger.service.region import OrderState, RegionService


def _iso(ts: Any) -> str:
    return str(ts.isoformat())


def market_view(platform: Platform, principal: Principal | None, region: str) -> dict[str, Any]:
    """The region's open slot, gate closure, tariff and recent slots (prices and volumes)."""
    authorize(principal, Action.READ_REGION, region=region)
    service = platform.region(region)
    require_aggregate(platform.household_count(region), region)
    slot = service.open_slot()
    tariff = service.market.rules_for(slot).tariff
    return {
        "region": region,
        "now": _iso(platform.clock.now()),
        "open_slot_start_s": slot.start_s,
        "slot_seconds": slot.length_s,
        "gate_closure": _iso(service.rules.clock.gate_closure(slot)),
        "tariff": tariff.to_dict(),
        "market_contract": checksum(service.operator.market.address),
        "chain_id": platform.chain_id,
        "recent": [s.__dict__ | {} for s in reversed(service.recent)],
    }


def companies(platform: Platform, principal: Principal | None, region: str) -> list[dict[str, Any]]:
    """The region's registered energy companies and their offers for the open slot."""
    authorize(principal, Action.READ_REGION, region=region)
    service = platform.region(region)
    slot = service.open_slot()
    offers = {checksum(o.owner): o for o in service.offers(slot.start_s)}
    out = []
    for address, name in sorted(service.company_names.items()):
        o = offers.get(address)
        out.append(
            {
                "address": address,
                "name": name,
                "offer": None
                if o is None
                else {
                    "slot_start_s": o.slot_start_s,
                    "energy_wh": o.energy_wh,
                    "price_micro_per_kwh": o.price_micro_per_kwh,
                    "net_price_micro_per_kwh": o.price_micro_per_kwh
                    - service.market.rules_for(slot).tariff.grid_fee_micro_per_kwh,
                },
            }
        )
    return out


def _region_of(platform: Platform, principal: Principal, region: str | None) -> RegionService:
    if region is not None:
        return platform.region(region)
    regions = set(principal.company_regions)
    for site_id in principal.sites:
        site = platform.queries.site(site_id)
        if site is not None:
            regions.add(site.region)
    if len(regions) == 1:
        return platform.region(regions.pop())
    raise OrderError("name the region of the order (region)")


def prepare_order(
    platform: Platform,
    principal: Principal | None,
    *,
    region: str | None,
    side: str,
    energy_wh: int,
    price_micro_per_kwh: int,
    slot_start_s: int | None,
    target: str | None,
) -> dict[str, Any]:
    """The EIP-712 typed data of an order for the caller's wallet to sign (with a fresh nonce)."""
    p = authorize(principal, Action.TRADE)
    service = _region_of(platform, p, region)
    unsigned = _unsigned(service, p, side, energy_wh, price_micro_per_kwh, slot_start_s, target)
    return {
        "order": unsigned.to_dict() | {"signature": None},
        "typed_data": service.operator.domain.typed_data(ORDER, unsigned.message),
    }


def _unsigned(
    service: RegionService,
    p: Principal,
    side: str,
    energy_wh: int,
    price: int,
    slot_start_s: int | None,
    target: str | None,
) -> Order:
    if side not in ("bid", "ask"):
        raise OrderError(f"side must be 'bid' or 'ask', got {side!r}")
    slot = slot_start_s if slot_start_s is not None else service.open_slot().start_s
    return Order(
        region=service.name,
        slot_start_s=slot,
        side=Side.BID if side == "bid" else Side.ASK,
        energy_wh=energy_wh,
        price_micro_per_kwh=price,
        owner=p.address,
        nonce=service.next_nonce(address_bytes(p.address)),
        target=checksum(target) if target else ZERO_ADDRESS,
    )


def place_order(
    platform: Platform,
    principal: Principal | None,
    *,
    signed: dict[str, Any] | None,
    region: str | None = None,
    side: str = "bid",
    energy_wh: int = 0,
    price_micro_per_kwh: int = 0,
    slot_start_s: int | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Place a signed order (``signed``: :meth:`Order.to_dict` form) or, for a demo account, one
    the server signs from the fields. Returns the order's state."""
    p = authorize(principal, Action.TRADE)
    if signed is not None:
        order = Order.from_dict(signed)
        if address_bytes(order.owner) != address_bytes(p.address):
            raise ForbiddenError(
                f"the order's owner {checksum(order.owner)} is not the signed-in account "
                f"{p.address}; sign orders with your own key"
            )
        service = platform.region(order.region)
    else:
        signer = platform.signer_for(p.address)
        if signer is None:
            raise ForbiddenError(
                "the server holds no key of this account: sign the order in your wallet "
                "(POST /api/v1/orders/prepare gives the EIP-712 typed data) and send it as 'signed'"
            )
        service = _region_of(platform, p, region)
        unsigned = _unsigned(service, p, side, energy_wh, price_micro_per_kwh, slot_start_s, target)
        order = unsigned.with_signature(
            service.operator.domain.sign(signer, ORDER, unsigned.message)
        )
    if order.targets_company and checksum(order.target) not in service.company_names:
        raise OrderError(f"{checksum(order.target)} is not a registered company of the region")
    order_id = service.submit(order)
    return order_view(service, service.orders[order_id])


def cancel_order(
    platform: Platform,
    principal: Principal | None,
    order_id: str,
    *,
    signature: str | None = None,
    nonce: int | None = None,
) -> dict[str, Any]:
    """Cancel one of the caller's open orders (a signed cancel, or server-signed for demo)."""
    p = authorize(principal, Action.TRADE)
    service, state = _own_order(platform, p, order_id)
    order = state.order
    if signature is not None:
        if nonce is None:
            raise OrderError("a signed cancel needs the nonce it was signed with")
        cancel = Cancel(
            order.region,
            order.slot_start_s,
            order.order_id,
            p.address,
            nonce,
            bytes.fromhex(signature.removeprefix("0x")),
        )
    else:
        signer = platform.signer_for(p.address)
        if signer is None:
            raise ForbiddenError("sign the cancel in your wallet and send its signature and nonce")
        cancel = Cancel.create(
            signer, service.operator.domain, order, nonce=service.next_nonce(signer.address_bytes)
        )
    service.cancel(cancel)
    return order_view(service, state)


def cancel_typed_data(
    platform: Platform, principal: Principal | None, order_id: str
) -> dict[str, Any]:
    p = authorize(principal, Action.TRADE)
    service, state = _own_order(platform, p, order_id)
    nonce = service.next_nonce(address_bytes(p.address))
    unsigned = Cancel(
        state.order.region, state.order.slot_start_s, state.order.order_id, p.address, nonce
    )
    return {
        "nonce": nonce,
        "typed_data": service.operator.domain.typed_data(CANCEL, unsigned.message),
    }


def _own_order(platform: Platform, p: Principal, order_id: str) -> tuple[RegionService, OrderState]:
    try:
        raw = bytes.fromhex(order_id.removeprefix("0x"))
    except ValueError:
        raise NotFoundError(f"no order {order_id!r} of yours") from None
    for service in platform.regions.values():
        state = service.orders.get(raw)
        if state is not None and address_bytes(state.order.owner) == address_bytes(p.address):
            return service, state
    raise NotFoundError(f"no open order {order_id!r} of yours")


def order_view(service: RegionService, state: OrderState) -> dict[str, Any]:
    o = state.order
    status = state.status
    if status == "open" and not service.rules.clock.is_open(
        service.market.slot(o.slot_start_s), service.clock.now()
    ):
        status = "closed"
    return {
        "order_id": "0x" + o.order_id.hex(),
        "region": o.region,
        "slot_start_s": o.slot_start_s,
        "side": "bid" if o.is_bid else "ask",
        "energy_wh": o.energy_wh,
        "price_micro_per_kwh": o.price_micro_per_kwh,
        "nonce": o.nonce,
        "target": None if not o.targets_company else checksum(o.target),
        "status": status,
        "filled_wh": state.filled_wh,
        "received_ms": state.received_ms,
    }


def list_orders(platform: Platform, principal: Principal | None) -> list[dict[str, Any]]:
    """The caller's orders: accepted by this service (open, closed, cancelled, filled...) and
    the settled ones the store holds, newest slot first."""
    p = authorize(principal, Action.TRADE)
    raw = address_bytes(p.address)
    out: dict[str, dict[str, Any]] = {}
    for name, service in platform.regions.items():
        filled: dict[bytes, int] = {}
        for placed in platform.queries.trades_of([name], raw):
            tr = placed.trade
            for oid in (tr.bid_id, tr.ask_id):
                filled[oid] = filled.get(oid, 0) + tr.energy_wh
        for o in platform.queries.orders(name):
            if address_bytes(o.owner) != raw:
                continue
            got = filled.get(o.order_id, 0)
            out["0x" + o.order_id.hex()] = {
                "order_id": "0x" + o.order_id.hex(),
                "region": name,
                "slot_start_s": o.slot_start_s,
                "side": "bid" if o.side == 0 else "ask",
                "energy_wh": o.energy_wh,
                "price_micro_per_kwh": o.price_micro_per_kwh,
                "nonce": o.nonce,
                "target": o.target if o.targets_company else None,
                "status": "filled" if got >= o.energy_wh else "partial" if got else "unfilled",
                "filled_wh": got,
                "received_ms": 0,
            }
        for state in service.orders_of(p.address):
            out["0x" + state.order.order_id.hex()] = order_view(service, state)
    return sorted(out.values(), key=lambda o: (-o["slot_start_s"], o["order_id"]))


def fills(platform: Platform, principal: Principal | None) -> list[dict[str, Any]]:
    """The caller's settled trades with the transactions that settled them."""
    p = authorize(principal, Action.TRADE)
    raw = address_bytes(p.address)
    out = []
    for name, service in platform.regions.items():
        companies = {checksum(a) for a in service.company_names}
        settlements = {s.slot_start_s: s for s in platform.queries.settlements(name)}
        for placed in platform.queries.trades_of([name], raw):
            t = placed.trade
            sold = t.seller == p.address
            other = t.buyer if sold else t.seller
            s = settlements.get(placed.slot_start_s)
            out.append(
                {
                    "region": name,
                    "slot_start_s": placed.slot_start_s,
                    "index": placed.index,
                    "side": "sale" if sold else "purchase",
                    "energy_wh": t.energy_wh,
                    "price_micro_per_kwh": t.price_micro_per_kwh,
                    "amount_micro": t.amount_micro,
                    "fee_micro": t.fee_micro if not sold else 0,
                    "counterparty": "company" if other in companies else "household",
                    "tx_hashes": [] if s is None else ["0x" + h.hex() for h in s.tx_hashes],
                    "block_number": None if s is None else s.block_number,
                }
            )
    return sorted(out, key=lambda f: (-f["slot_start_s"], f["region"], f["index"]))
