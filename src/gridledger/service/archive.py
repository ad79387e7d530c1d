"""The archive: every sale, purchase and delivery settlement of an account, totals, CSV, proofs.

Sales and purchases are the stored trades of settled slots; delivery settlements are the chain's
``DeliverySettled`` events (the chain is the record of what settled). For one trade,
:func:`trade_proof` returns its on-chain record (transaction, block, log index) and the Merkle
proof of its leaf against the slot's ``trades_root`` on chain, checked by the server before it is
returned; a client checks it offline with any OpenZeppelin ``StandardMerkleTree`` verifier
(sorted pairs, ``leaf = keccak(keccak(tradeHash))``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from gridledger.errors import ValidationError
from gridledger.identity import address_bytes, checksum
from gridledger.ledger import merkle
from gridledger.service.access import Action, NotFoundError, Principal, authorize
from gridledger.service.platform import Platform

KINDS = ("sale", "purchase", "delivery")
COUNTERPARTIES = ("household", "company", "grid")
CSV_FIELDS = (
    "kind",
    "region",
    "slot_start",
    "slot_start_s",
    "index",
    "counterparty",
    "energy_wh",
    "price_micro_per_kwh",
    "amount_micro",
    "fee_micro",
    "tx_hash",
    "block_number",
)


def entries(
    platform: Platform,
    principal: Principal | None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    kind: str | None = None,
    counterparty: str | None = None,
) -> list[dict[str, Any]]:
    """The caller's archive, oldest first, filtered by period ``[start, end)``, kind and
    counterparty type. Money [micro-units]: ``amount_micro`` is positive when received."""
    p = authorize(principal, Action.TRADE)
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if counterparty is not None and counterparty not in COUNTERPARTIES:
        raise ValidationError(f"counterparty must be one of {', '.join(COUNTERPARTIES)}")
    for ts, name in ((start, "start"), (end, "end")):
        if ts is not None and ts.tzinfo is None:
            raise ValidationError(f"{name} needs a UTC offset, e.g. 2026-06-21T00:00:00Z")
    lo = -1 if start is None else int(start.timestamp())
    hi = 2**63 if end is None else int(end.timestamp())
    raw = address_bytes(p.address)
    out: list[dict[str, Any]] = []
    for name, service in platform.regions.items():
        companies = {checksum(a) for a in service.company_names}
        settlements = {s.slot_start_s: s for s in platform.queries.settlements(name)}
        for placed in platform.queries.trades_of([name], raw):
            if not lo <= placed.slot_start_s < hi:
                continue
            t = placed.trade
            sold = t.seller == checksum(raw)
            other = t.buyer if sold else t.seller
            s = settlements.get(placed.slot_start_s)
            out.append(
                _row(
                    "sale" if sold else "purchase",
                    name,
                    placed.slot_start_s,
                    placed.index,
                    "company" if other in companies else "household",
                    t.energy_wh,
                    t.price_micro_per_kwh,
                    t.amount_micro if sold else -t.amount_micro,
                    0 if sold else t.fee_micro,
                    "0x" + s.tx_hashes[0].hex() if s and s.tx_hashes else None,
                    None if s is None else s.block_number,
                )
            )
        for e in service.operator.market.events("DeliverySettled"):
            a = e.args
            if bytes(a["account"]) != raw or not lo <= int(a["slot"]) < hi:
                continue
            imbalance = int(a["imbalance_wh"])
            paid = int(a["paid_micro"])
            # a positive imbalance was bought from the grid (paid), a negative one sold (credited)
            out.append(
                _row(
                    "delivery",
                    name,
                    int(a["slot"]),
                    0,
                    "grid",
                    imbalance,
                    None,
                    -paid if imbalance > 0 else paid,
                    0,
                    "0x" + e.tx_hash.hex(),
                    e.block_number,
                )
            )
    out = [
        r
        for r in out
        if (kind is None or r["kind"] == kind)
        and (counterparty is None or r["counterparty"] == counterparty)
    ]
    return sorted(out, key=lambda r: (r["slot_start_s"], r["region"], r["kind"], r["index"]))


def _row(
    kind: str,
    region: str,
    slot: int,
    index: int,
    counterparty: str,
    energy_wh: int,
    price: int | None,
    amount: int,
    fee: int,
    tx: str | None,
    block: int | None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "region": region,
        "slot_start": datetime.fromtimestamp(slot, UTC).isoformat(),
        "slot_start_s": slot,
        "index": index,
        "counterparty": counterparty,
        "energy_wh": energy_wh,
        "price_micro_per_kwh": price,
        "amount_micro": amount,
        "fee_micro": fee,
        "tx_hash": tx,
        "block_number": block,
    }


def totals(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Sums per UTC day or month: energy sold, bought, delivered imbalance [Wh], money in and
    out [micro-units]."""
    if by not in ("day", "month"):
        raise ValidationError(f"by must be day or month, got {by!r}")
    width = 10 if by == "day" else 7
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        period = r["slot_start"][:width]
        t = out.setdefault(
            period,
            {
                "period": period,
                "sold_wh": 0,
                "bought_wh": 0,
                "imbalance_wh": 0,
                "received_micro": 0,
                "paid_micro": 0,
                "fees_micro": 0,
            },
        )
        if r["kind"] == "sale":
            t["sold_wh"] += r["energy_wh"]
        elif r["kind"] == "purchase":
            t["bought_wh"] += r["energy_wh"]
        else:
            t["imbalance_wh"] += r["energy_wh"]
        if r["amount_micro"] >= 0:
            t["received_micro"] += r["amount_micro"]
        else:
            t["paid_micro"] += -r["amount_micro"]
        t["fees_micro"] += r["fee_micro"]
    return [out[k] for k in sorted(out)]


def csv_chunks(rows: list[dict[str, Any]], chunk: int = 500) -> Iterator[str]:
    """The rows as CSV text, header first, in chunks (for a streaming response)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for i, r in enumerate(rows, 1):
        writer.writerow({k: "" if r[k] is None else r[k] for k in CSV_FIELDS})
        if i % chunk == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def trade_proof(
    platform: Platform, principal: Principal | None, region: str, slot_start_s: int, index: int
) -> dict[str, Any]:
    """One of the caller's trades (or of its region, for the operator and the admin): its
    on-chain event and the server-checked Merkle proof."""
    p = authorize(principal, Action.READ_REGION, region=region)
    service = platform.region(region)
    raw = address_bytes(p.address)
    placed = next(
        (t for t in platform.queries.trades(region, slot_start_s) if t.index == index), None
    )
    trade = None if placed is None else placed.trade
    # operators and the admin audit their regions' trades; households only their own
    may = trade is not None and (
        checksum(raw) in (trade.buyer, trade.seller) or p.is_admin or region in p.operator_regions
    )
    if trade is None or not may:
        raise NotFoundError(f"no trade {region}/{slot_start_s}/{index} of yours")
    market = service.operator.market
    events = market.settled_trades(slot_start_s)
    event = next(
        (
            e
            for e in events
            if (e.trade.bid_id, e.trade.ask_id, e.trade.energy_wh)
            == (trade.bid_id, trade.ask_id, trade.energy_wh)
        ),
        None,
    )
    if event is None:
        raise NotFoundError(f"trade {region}/{slot_start_s}/{index} is not on chain (yet)")
    proof = market.trade_proof(slot_start_s, event.trade_hash)
    root = market.slot(slot_start_s).trades_root
    leaf = event.leaf
    verified = merkle.verify_proof(root, leaf, proof)
    return {
        "region": region,
        "slot_start_s": slot_start_s,
        "index": index,
        "energy_wh": trade.energy_wh,
        "price_micro_per_kwh": trade.price_micro_per_kwh,
        "amount_micro": trade.amount_micro,
        "fee_micro": trade.fee_micro,
        "bid_id": "0x" + trade.bid_id.hex(),
        "ask_id": "0x" + trade.ask_id.hex(),
        "trade_hash": "0x" + event.trade_hash.hex(),
        "tx_hash": "0x" + event.tx_hash.hex(),
        "block_number": event.block_number,
        "log_index": event.log_index,
        "market_contract": "0x" + market.address.hex(),
        "leaf": "0x" + leaf.hex(),
        "proof": ["0x" + h.hex() for h in proof],
        "trades_root": "0x" + root.hex(),
        "verified": verified,
    }
