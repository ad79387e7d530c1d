"""One region of the live platform: its market, the slot clock's stages and its operator.

:class:`RegionService` is where orders enter (from the home controllers and from the API) and
where each slot moves through its stages, driven by :meth:`RegionService.tick`:

1. **open**: orders, cancels and company offers are checked by the region's
   :class:`~gridledger.market.RegionalMarket` (signature for this market's contract, nonce, gate)
   and, once accepted, written to the region's :class:`~gridledger.service.journal.Journal` before
   the caller hears "accepted";
2. **cleared** at gate closure (each slot once: a slot is marked done in the journal only after
   its settlement is recorded, and clearing is deterministic, so a restart re-clears the very same
   result from the journal);
3. **settled**: :meth:`~gridledger.operator.region.RegionOperator.settle` stores the orders and
   trades and settles them on chain (it only records a slot the chain settled before a crash);
4. **delivered**: after the slot ended and its meter readings are in,
   :meth:`~gridledger.operator.region.RegionOperator.settle_delivery` settles the imbalances.

Energy [Wh], money [micro-units], prices [micro-units/kWh], slot starts [Unix s].
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from gridledger.errors import GridLedgerError, LedgerError, OrderError, SlotError
from gridledger.identity import Signer, address_bytes, checksum
from gridledger.ledger.registry import Role as ChainRole
from gridledger.market import (
    Cancel,
    ClearingResult,
    GridTariff,
    Order,
    RegionalMarket,
    RuleSchedule,
    RuleSet,
    Side,
)
from gridledger.operator.region import RegionOperator
from gridledger.service.access import ConflictError, ForbiddenError
from gridledger.service.clock import Clock
from gridledger.service.events import Event, EventBus
from gridledger.service.journal import Journal
from gridledger.service.metrics import Metrics
from gridledger.service.queries import Queries
from gridledger.slots import Slot
from gridledger.units import cost_micro

log = logging.getLogger(__name__)

#: How many recent slot summaries a region keeps in memory for the API.
RECENT_SLOTS = 96
#: Clock seconds after a slot's end before its delivery is settled (the last readings arrive).
DELIVERY_DELAY_S = 150


@dataclass
class OrderState:
    """An order this service accepted: the signed order and where it stands."""

    order: Order
    status: str  # open | closed | cancelled | filled | partial | unfilled
    filled_wh: int = 0
    received_ms: int = 0


@dataclass
class SlotSummary:
    """A cleared slot as the API shows it."""

    slot_start_s: int
    orders: int
    trades: int
    volume_wh: int
    company_wh: int
    clearing_price_micro_per_kwh: int | None
    status: str  # cleared | settled | delivered | delivery_failed | empty
    tx_hashes: list[str] = field(default_factory=list)


class RegionService:
    """The live market and settlement pipeline of one region (module docstring)."""

    def __init__(
        self,
        operator: RegionOperator,
        rules: RuleSet,
        *,
        queries: Queries,
        journal: Journal,
        bus: EventBus,
        metrics: Metrics,
        clock: Clock,
        company: Signer | None = None,
        company_name: str = "",
    ) -> None:
        self.operator = operator
        self.name = operator.region
        self.rules = rules
        self.queries = queries
        self.journal = journal
        self.bus = bus
        self.metrics = metrics
        self.clock = clock
        self.company = company
        self.market = RegionalMarket(
            self.name,
            chain_id=operator.backend.chain_id,
            rules=rules,
            verifying_contract=operator.market.address,
        )
        self.company_names: dict[str, str] = {}
        if company is not None:
            self.register_company(company.address, company_name)
        self.orders: dict[bytes, OrderState] = {}
        self.recent: deque[SlotSummary] = deque(maxlen=RECENT_SLOTS)
        self._pending_delivery: dict[int, int] = {}  # slot -> attempts
        # cleared slots whose settlement failed (store or chain down): retried each tick
        self._unsettled: dict[int, tuple[Slot, ClearingResult, list[Order], SlotSummary]] = {}
        self._roles: dict[bytes, ChainRole] = {}
        self._metered: set[bytes] = set()
        self._nonces: dict[bytes, int] = {}
        self._lock = threading.RLock()
        self._next_clear: Slot | None = None

    @property
    def clock_rules(self) -> RuleSet:
        return self.rules

    @property
    def slot_seconds(self) -> int:
        return self.rules.clock.length_s

    def register_company(self, address: str, name: str) -> None:
        self.market.companies.register(address, name)
        self.company_names[checksum(address)] = name

    # --- accounts -------------------------------------------------------------------------------

    def chain_role(self, account: bytes) -> ChainRole:
        """The account's role in this region's registry (cached once known)."""
        role = self._roles.get(account)
        if role is None or role == ChainRole.NONE:
            registry = self.operator.deployment.registry
            role = ChainRole(registry.role_of(account))
            if role != ChainRole.NONE:
                self._roles[account] = role
        return role

    def next_nonce(self, owner: bytes) -> int:
        """A nonce ``owner`` has not used in this region (for messages the server signs)."""
        with self._lock:
            n = self._max_nonce(owner) + 1
            self._nonces[owner] = n
            return n

    def _max_nonce(self, owner: bytes) -> int:
        # the highest nonce seen from ``owner``: from the store once, then kept up to date
        if owner not in self._nonces:
            self._nonces[owner] = self.queries.max_nonce(self.name, owner)
        return self._nonces[owner]

    def _saw_nonce(self, owner: str, nonce: int) -> None:
        raw = address_bytes(owner)
        self._nonces[raw] = max(self._max_nonce(raw), nonce)

    # --- the edge -------------------------------------------------------------------------------

    def submit(self, order: Order, *, journal: bool = True, at: datetime | None = None) -> bytes:
        """Accept a signed order (or refuse it: nothing changes); return its id.

        Beyond the market's checks: the owner must be registered in this region on chain, and a
        buyer's escrow must cover its limit (the chain would refuse the whole slot otherwise).
        """
        owner = address_bytes(order.owner)
        role = self.chain_role(owner)
        if role not in (ChainRole.HOUSEHOLD, ChainRole.COMPANY):
            raise ForbiddenError(
                f"{checksum(owner)} is not registered in region {self.name!r}; the region's "
                "operator registers households (POST /api/v1/regions/{region}/households)"
            )
        if role == ChainRole.HOUSEHOLD and owner not in self._metered:
            # delivery settles every trader against its meter: one without a meter would make
            # the whole slot's delivery settlement fail
            if not self.queries.has_meter(self.name, owner):
                raise ForbiddenError(
                    f"{checksum(owner)} has no meter (BEC) registered in region {self.name!r}; "
                    "the operator registers it (POST /api/v1/regions/{region}/sites/{site_id}/"
                    "devices) before the household trades"
                )
            self._metered.add(owner)
        if order.side == Side.BID:
            need = cost_micro(order.energy_wh, order.price_micro_per_kwh)
            have = self.operator.market.escrow_of(owner)
            if have < need:
                raise ConflictError(
                    f"escrow {have} micro-units of {checksum(owner)} does not cover the bid's "
                    f"limit {need}; deposit more or bid less"
                )
        now = at or self.clock.now()
        with self._lock:
            if order.order_id in self.orders:
                raise ConflictError(
                    f"order 0x{order.order_id.hex()} was accepted already (a replay); sign a new "
                    "order with a fresh nonce"
                )
            try:
                order_id = self.market.submit(order, now)
            except OrderError as exc:
                if "used already" in str(exc):  # the market's reused-nonce refusal
                    raise ConflictError(str(exc)) from exc
                raise
            if journal:
                self.journal.append(
                    {
                        "op": "order",
                        "slot": order.slot_start_s,
                        "order": order.to_dict(),
                        "ms": int(now.timestamp() * 1000),
                    }
                )
            self.orders[order_id] = OrderState(order, "open", 0, int(now.timestamp() * 1000))
            self._saw_nonce(order.owner, order.nonce)
        self.metrics.orders_accepted.labels(self.name).inc()
        return order_id

    def cancel(self, cancel: Cancel, *, journal: bool = True, at: datetime | None = None) -> Order:
        now = at or self.clock.now()
        with self._lock:
            order = self.market.cancel(cancel, now)
            if journal:
                self.journal.append(
                    {
                        "op": "cancel",
                        "slot": cancel.slot_start_s,
                        "order_id": "0x" + cancel.order_id.hex(),
                        "nonce": cancel.nonce,
                        "owner": checksum(cancel.owner),
                        "signature": "0x" + cancel.signature.hex(),
                    }
                )
            state = self.orders.get(order.order_id)
            if state is not None:
                state.status = "cancelled"
            self._saw_nonce(cancel.owner, cancel.nonce)
        return order

    def post_offer(self, offer: Order, *, journal: bool = True, at: datetime | None = None) -> None:
        """A company's signed per-slot buy offer (standing offers cannot settle on chain)."""
        if offer.slot_start_s == 0:
            raise OrderError("post an offer for one slot (slot_start_s), not a standing offer")
        if self.chain_role(address_bytes(offer.owner)) != ChainRole.COMPANY:
            raise ForbiddenError(f"{checksum(offer.owner)} is not a registered energy company")
        now = at or self.clock.now()
        with self._lock:
            self.market.post_company_offer(offer, now)
            if journal:
                self.journal.append(
                    {"op": "offer", "slot": offer.slot_start_s, "order": offer.to_dict()}
                )
            self.orders[offer.order_id] = OrderState(offer, "open", 0, int(now.timestamp() * 1000))
            self._saw_nonce(offer.owner, offer.nonce)

    def withdraw_offer(self, company: str, slot_start_s: int) -> bool:
        """Withdraw a company's offer for a slot whose gate is still open."""
        with self._lock:
            slot = self.market.slot(slot_start_s)
            self.rules.clock.require_open(slot, self.clock.now())
            offer = self.market.companies.offer(company, slot_start_s)
            if offer is None or offer.slot_start_s != slot_start_s:
                return False
            del self.market.companies._offers[(address_bytes(company), slot_start_s)]
            self.journal.append(
                {"op": "withdraw", "slot": slot_start_s, "order_id": "0x" + offer.order_id.hex()}
            )
            state = self.orders.get(offer.order_id)
            if state is not None:
                state.status = "cancelled"
            return True

    def schedule_tariff(
        self, first_slot_s: int, tariff: GridTariff, *, journal: bool = True
    ) -> None:
        """Clear and settle slots from ``first_slot_s`` on under ``tariff`` (future slots only:
        the chain's grid prices follow when the first such slot settles)."""
        with self._lock:
            slot = self.market.slot(first_slot_s)
            if journal and slot.start_s <= self.open_slot().start_s:
                raise SlotError(
                    f"a tariff applies to future slots: slot {slot} is open or past; use "
                    f"{self.open_slot().next().start_s} or later"
                )
            rules = replace(self.market.schedule.rules_at(slot.start_s), tariff=tariff)
            kept = [e for e in self.market.schedule.entries if e[0] < slot.start_s]
            self.market.schedule = RuleSchedule((*kept, (slot.start_s, rules)))
            if journal:
                self.journal.append(
                    {"op": "tariff", "from": slot.start_s, "tariff": tariff.to_dict()}
                )

    def tariff_schedule(self) -> list[tuple[int, GridTariff]]:
        with self._lock:
            return [(start, rules.tariff) for start, rules in self.market.schedule.entries]

    def _sync_chain_tariff(self, slot: Slot) -> None:
        tariff = self.market.rules_for(slot).tariff
        wanted = (
            tariff.retail_price_micro_per_kwh,
            tariff.feed_in_price_micro_per_kwh,
            tariff.grid_fee_micro_per_kwh,
        )
        market = self.operator.market
        if tuple(market.grid_prices()) != wanted:
            market.set_grid_prices(self.operator.operator, *wanted)

    # --- restart --------------------------------------------------------------------------------

    def replay(self) -> int:
        """Re-enter the journal's orders of slots not done; compact the journal. Returns how many
        orders came back."""
        entries = list(self.journal.entries())
        done = {e["slot"] for e in entries if e.get("op") == "done"}
        keep = [e for e in entries if e.get("slot") not in done]
        restored = 0
        for e in keep:
            if e.get("op") == "tariff":
                self.schedule_tariff(
                    int(e["from"]), GridTariff.from_dict(e["tariff"]), journal=False
                )
                continue
            slot = self.market.slot(int(e["slot"]))
            before_gate = self.rules.clock.gate_closure(slot) - timedelta(seconds=1)
            try:
                if e["op"] == "order":
                    self.submit(Order.from_dict(e["order"]), journal=False, at=before_gate)
                    restored += 1
                elif e["op"] == "offer":
                    self.post_offer(Order.from_dict(e["order"]), journal=False, at=before_gate)
                elif e["op"] == "cancel":
                    cancel = Cancel(
                        self.name,
                        int(e["slot"]),
                        bytes.fromhex(e["order_id"][2:]),
                        e["owner"],
                        int(e["nonce"]),
                        bytes.fromhex(e["signature"][2:]),
                    )
                    self.cancel(cancel, journal=False, at=before_gate)
                elif e["op"] == "withdraw":
                    self.market.companies._offers = {
                        k: v
                        for k, v in self.market.companies._offers.items()
                        if "0x" + v.order_id.hex() != e["order_id"]
                    }
            except GridLedgerError as exc:  # accepted once; say why it cannot come back
                log.warning("region %s: journal entry not replayed: %s", self.name, exc)
        self.journal.rewrite(keep)
        slots = [int(e["slot"]) for e in keep if "slot" in e]
        if slots:
            first = min(slots)
            self._next_clear = self.market.slot(first)
        return restored

    # --- the slot clock -------------------------------------------------------------------------

    def open_slot(self) -> Slot:
        return self.rules.clock.first_open_slot(self.clock.now())

    def tick(self) -> None:
        """Clear and settle every slot whose gate closed; settle due deliveries."""
        now = self.clock.now()
        clock = self.rules.clock
        if self._next_clear is None:
            self._next_clear = clock.first_open_slot(now)
        # after a long stop, skip the empty slots in between (nothing to clear in them)
        current = clock.slot_of(now)
        with self._lock:
            booked = sorted(self.market._books)
        for slot, result, orders, summary in list(self._unsettled.values()):
            self._settle(slot, result, orders, summary)
            if slot.start_s in self._unsettled:
                return  # still failing: keep the order of slots, try again next tick
        while not clock.is_open(self._next_clear, now):
            slot = self._next_clear
            if slot.start_s in booked or slot.start_s >= current.start_s - 4 * self.slot_seconds:
                self._clear_and_settle(slot, now)
            self._next_clear = slot.next()
        self.metrics.lag.labels(self.name, "clearing").set(
            max(0.0, (now - clock.gate_closure(self._next_clear)).total_seconds())
        )
        self._deliver_due(now)

    def _clear_and_settle(self, slot: Slot, now: datetime) -> None:
        with self._lock:
            result = self.market.clear(slot, now)
            book = list(self.market.book(slot).orders())
            targeted = any(o.targets_company for o in book)
            offers = self.market.companies.offers_for(slot.start_s) if targeted else []
            orders = [*book, *offers]
        self.metrics.slots_cleared.labels(self.name).inc()
        summary = SlotSummary(
            slot.start_s,
            len(orders),
            len(result.trades),
            result.market_wh,
            result.company_wh,
            result.clearing_price_micro_per_kwh,
            "cleared" if orders else "empty",
        )
        self.recent.append(summary)
        self.bus.publish(
            Event(
                "slot_cleared",
                self.name,
                {
                    "slot_start_s": slot.start_s,
                    "orders": len(orders),
                    "trades": len(result.trades),
                    "volume_wh": result.market_wh,
                    "company_wh": result.company_wh,
                    "clearing_price_micro_per_kwh": result.clearing_price_micro_per_kwh,
                },
            )
        )
        if orders:
            self._settle(slot, result, orders, summary)
        else:
            self.journal.append({"op": "done", "slot": slot.start_s})
        with self._lock:
            self.market.evict_before(slot.next().start_s)
            # settled orders older than the recent window are the store's to show
            horizon = slot.start_s - RECENT_SLOTS * self.slot_seconds
            for oid in [k for k, v in self.orders.items() if v.order.slot_start_s < horizon]:
                del self.orders[oid]

    def _settle(
        self, slot: Slot, result: ClearingResult, orders: list[Order], summary: SlotSummary
    ) -> None:
        filled = dict(zip((o.order_id for o in orders), (0 for _ in orders), strict=True))
        for t in result.trades:
            filled[t.bid_id] = filled.get(t.bid_id, 0) + t.energy_wh
            filled[t.ask_id] = filled.get(t.ask_id, 0) + t.energy_wh
        try:
            self._sync_chain_tariff(slot)
            done = self.operator.settle(result, orders)
        except GridLedgerError as exc:
            # not marked done: the next tick retries it (settling is idempotent), and so does a
            # restart from the journal
            self.metrics.stage_errors.labels(self.name, "settlement").inc()
            log.error("region %s slot %s: settlement failed: %s", self.name, slot.start_s, exc)
            summary.status = "settlement_failed"
            self._unsettled[slot.start_s] = (slot, result, orders, summary)
            return
        self._unsettled.pop(slot.start_s, None)
        self.journal.append({"op": "done", "slot": slot.start_s})
        self.metrics.slots_settled.labels(self.name).inc()
        self.metrics.trades_settled.labels(self.name).inc(done.trades)
        record = self.queries.settlement(self.name, slot.start_s)
        summary.status = "settled"
        summary.tx_hashes = ["0x" + h.hex() for h in (record.tx_hashes if record else ())]
        with self._lock:
            for order in orders:
                state = self.orders.get(order.order_id)
                if state is not None and state.status != "cancelled":
                    got = filled.get(order.order_id, 0)
                    state.filled_wh = got
                    state.status = (
                        "filled" if got >= order.energy_wh else "partial" if got else "unfilled"
                    )
        for i, t in enumerate(result.trades):
            self.bus.publish(
                Event(
                    "trade_settled",
                    self.name,
                    {
                        "slot_start_s": slot.start_s,
                        "index": i,
                        "energy_wh": t.energy_wh,
                        "price_micro_per_kwh": t.price_micro_per_kwh,
                        "amount_micro": t.amount_micro,
                        "company": bool(t.company),
                        "tx_hashes": summary.tx_hashes,
                    },
                    accounts=frozenset({t.buyer.lower(), t.seller.lower()}),
                )
            )
        self._pending_delivery[slot.start_s] = 0

    def _deliver_due(self, now: datetime) -> None:
        for start in sorted(self._pending_delivery):
            end = datetime.fromtimestamp(start + self.slot_seconds, now.tzinfo)
            if now < end + timedelta(seconds=DELIVERY_DELAY_S):
                break
            try:
                recorded = self.queries.settlement(self.name, start)
                if recorded is None or recorded.state != "delivered":
                    # the protocol sends what the chain lacks, or records the receipt the store
                    # missed (the chain settled, the store write failed) from the chain's events
                    self.operator.settle_delivery(start)
                del self._pending_delivery[start]
                self.metrics.deliveries_settled.labels(self.name).inc()
                self._set_status(start, "delivered")
                self.bus.publish(Event("delivery_settled", self.name, {"slot_start_s": start}))
            except LedgerError as exc:
                attempts = self._pending_delivery[start] + 1
                self._pending_delivery[start] = attempts
                self.metrics.stage_errors.labels(self.name, "delivery").inc()
                log.warning("region %s slot %s delivery: %s", self.name, start, exc)
                if attempts >= 3:
                    del self._pending_delivery[start]
                    self._set_status(start, "delivery_failed")
        pending = min(self._pending_delivery, default=None)
        lag = 0.0
        if pending is not None:
            due = pending + self.slot_seconds + DELIVERY_DELAY_S
            lag = max(0.0, now.timestamp() - due)
        self.metrics.lag.labels(self.name, "delivery").set(lag)

    def resume_deliveries(self) -> None:
        """Queue the delivery of settled slots whose delivery is not on chain, or is on chain
        but not recorded in the store (after a restart)."""
        for record in self.queries.settlements(self.name)[-RECENT_SLOTS:]:
            if record.state != "delivered":
                self._pending_delivery.setdefault(record.slot_start_s, 0)

    def _set_status(self, slot_start_s: int, status: str) -> None:
        for s in self.recent:
            if s.slot_start_s == slot_start_s:
                s.status = status

    # --- views ----------------------------------------------------------------------------------

    def orders_of(self, owner: str) -> list[OrderState]:
        with self._lock:
            return [
                s
                for s in self.orders.values()
                if address_bytes(s.order.owner) == address_bytes(owner)
            ]

    def offers(self, slot_start_s: int) -> list[Order]:
        with self._lock:
            return self.market.companies.offers_for(slot_start_s)
