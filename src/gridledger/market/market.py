"""One region's market: validation at the edge, one order book per slot, clearing, re-clearing.

:class:`RegionalMarket` is the only place orders enter. :meth:`RegionalMarket.submit` checks, once:
the order on its own (:func:`~gridledger.market.orders.validate_order`: quantities, price,
signature),
then the region, the slot length and gate closure, a fresh nonce, and that a company target is
registered with an offer for the slot. Nonces are per owner and region and shared by orders and
cancels: every signed message of one account in one region carries a new nonce, so none can be
replayed. No account trades with itself: an owner has orders on one side of a slot only (a second
order on the other side is refused until the first is cancelled), and an ask cannot be addressed
to its own owner as an energy company. After gate closure :meth:`RegionalMarket.clear` freezes the
book and clears it under the rule set the :class:`~gridledger.market.rules.RuleSchedule` gives for
that slot.

:func:`reclear` re-runs a slot from its stored orders and rule set and compares the hash, so anyone
holding the orders can check a result the ledger recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from gridledger.errors import MarketError, OrderError, SlotError
from gridledger.identity import Domain, address_bytes, checksum
from gridledger.market.book import BookArrays, OrderBook
from gridledger.market.clearing import clear_book
from gridledger.market.companies import STANDING_SLOT, CompanyRegistry
from gridledger.market.orders import Cancel, Order, Side, validate_cancel, validate_order
from gridledger.market.result import ClearingResult
from gridledger.market.rules import RuleSchedule, RuleSet
from gridledger.slots import Slot


class RegionalMarket:
    """The market of one region: books per slot, company registry, nonces, results."""

    def __init__(
        self,
        region: str,
        *,
        chain_id: int,
        rules: RuleSet | RuleSchedule | None = None,
        companies: CompanyRegistry | None = None,
        verifying_contract: str | bytes | None = None,
    ) -> None:
        self.region = region
        # orders settle on the region's market contract: they must be signed for it (EIP-712
        # verifyingContract); a market that never settles on chain uses the chain-only domain
        self.domain = (
            Domain(chain_id)
            if verifying_contract is None
            else Domain.of_contract(chain_id, verifying_contract)
        )
        if rules is None:
            rules = RuleSet()
        self.schedule = rules if isinstance(rules, RuleSchedule) else RuleSchedule.constant(rules)
        self.companies = companies if companies is not None else CompanyRegistry(region)
        self._books: dict[int, OrderBook] = {}
        # (owner, nonce) -> the slot start of the message that used it (0: a standing offer)
        self._nonces: dict[tuple[bytes, int], int] = {}
        # (slot start, owner) -> (side of its orders in that slot's book, how many)
        self._sides: dict[tuple[int, bytes], tuple[Side, int]] = {}
        self._results: dict[int, ClearingResult] = {}
        self._evicted_before_s = 0

    def rules_for(self, slot: Slot) -> RuleSet:
        """The rule set in force for ``slot``."""
        return self.schedule.rules_at(slot.start_s)

    def slot(self, slot_start_s: int) -> Slot:
        """The slot starting at ``slot_start_s`` under the rules in force then."""
        rules = self.schedule.rules_at(slot_start_s)
        try:
            return rules.clock.slot_at(slot_start_s)
        except SlotError as exc:
            raise OrderError(
                f"slot start {slot_start_s} is not a slot of region {self.region!r}: {exc}"
            ) from exc

    def book(self, slot: Slot) -> OrderBook:
        """The book of ``slot`` (created empty on first use)."""
        self._require_kept(slot.start_s)
        book = self._books.get(slot.start_s)
        if book is None:
            book = self._books[slot.start_s] = OrderBook(self.region, slot)
        return book

    # --- the edge ----------------------------------------------------------------------------

    def _require_fresh_nonce(self, owner: str, nonce: int) -> None:
        if (address_bytes(owner), nonce) in self._nonces:
            raise OrderError(
                f"nonce {nonce} of {checksum(owner)} was used already in region {self.region!r}; "
                "sign again with a fresh nonce"
            )

    def _use_nonce(self, owner: str, nonce: int, slot_start_s: int) -> None:
        self._require_fresh_nonce(owner, nonce)
        self._nonces[(address_bytes(owner), nonce)] = slot_start_s

    def _require_kept(self, slot_start_s: int) -> None:
        if slot_start_s < self._evicted_before_s:
            raise MarketError(
                f"slot {slot_start_s} of region {self.region!r} was cleared and evicted from "
                "memory; read its orders and result from the store"
            )

    def evict_before(self, slot_start_s: int) -> int:
        """Forget the books, results, per-slot company offers and nonces of every slot that
        starts before ``slot_start_s`` [Unix s]; return how many books were dropped.

        A long-running market (or a year-long simulation) calls this once slots are cleared and
        stored, so memory stays bounded by the open slots. Every message is signed for its slot,
        so forgetting the nonces of closed slots cannot let one be replayed; those slots refuse
        everything afterwards (:class:`MarketError`). Standing company offers are kept.
        """
        self._evicted_before_s = max(self._evicted_before_s, slot_start_s)
        old = [s for s in self._books if s < slot_start_s]
        for start in old:
            del self._books[start]
        for start in [s for s in self._results if s < slot_start_s]:
            del self._results[start]
        for key in [k for k, s in self._nonces.items() if STANDING_SLOT < s < slot_start_s]:
            del self._nonces[key]
        for side_key in [k for k in self._sides if k[0] < slot_start_s]:
            del self._sides[side_key]
        self.companies.evict_before(slot_start_s)
        return len(old)

    def _check_region_and_gate(self, region: str, slot_start_s: int, now: datetime) -> Slot:
        if region != self.region:
            raise OrderError(
                f"message is for region {region!r} but was sent to the market of region "
                f"{self.region!r}"
            )
        slot = self.slot(slot_start_s)
        self.rules_for(slot).clock.require_open(slot, now)
        if self.book(slot).frozen:
            raise MarketError(f"the book of slot {slot} is frozen; submit to a later slot")
        return slot

    def submit(self, order: Order, now: datetime) -> bytes:
        """Validate ``order`` and add it to its slot's book; return its order id.

        Raises :class:`OrderError` (bad fields, wrong region, reused nonce, unknown company),
        :class:`~gridledger.errors.SignatureError` (bad signature),
        :class:`~gridledger.errors.SlotError` (gate closed) or :class:`MarketError` (book frozen).
        """
        validate_order(order, self.domain)
        slot = self._check_region_and_gate(order.region, order.slot_start_s, now)
        if order.targets_company:
            if not self.companies.is_registered(order.target):
                raise OrderError(
                    f"order targets {checksum(order.target)}, which is not a registered energy "
                    f"company of region {self.region!r}; see market.companies.companies()"
                )
            if self.companies.offer(order.target, slot.start_s) is None:
                raise OrderError(
                    f"company {checksum(order.target)} has no offer for slot {slot}; "
                    "sell to the open market instead (zero-address target)"
                )
        book = self.book(slot)
        if order.order_id in book:
            raise OrderError(f"order 0x{order.order_id.hex()} is in the book already")
        self._require_fresh_nonce(order.owner, order.nonce)  # a replay is refused as one
        owner = address_bytes(order.owner)
        if order.targets_company and address_bytes(order.target) == owner:
            raise OrderError(
                f"ask of {checksum(order.owner)} is addressed to itself as an energy company; an "
                "account cannot trade with itself"
            )
        side, count = self._sides.get((slot.start_s, owner), (order.side, 0))
        if side != order.side:
            raise OrderError(
                f"{checksum(order.owner)} has a {'bid' if side == Side.BID else 'ask'} in slot "
                f"{slot} already and could trade with itself; one side per slot (cancel it first)"
            )
        self._use_nonce(order.owner, order.nonce, slot.start_s)
        order_id = book.add(order)
        self._sides[(slot.start_s, owner)] = (side, count + 1)
        return order_id

    def cancel(self, cancel: Cancel, now: datetime) -> Order:
        """Withdraw an order before gate closure with a cancel signed by its owner."""
        validate_cancel(cancel, self.domain)
        slot = self._check_region_and_gate(cancel.region, cancel.slot_start_s, now)
        book = self.book(slot)
        order = book.get(cancel.order_id)
        if order is None:
            raise OrderError(
                f"no order 0x{cancel.order_id.hex()} in slot {slot}; nothing to cancel"
            )
        if address_bytes(order.owner) != address_bytes(cancel.owner):
            raise OrderError("only the owner of an order can cancel it")
        self._use_nonce(cancel.owner, cancel.nonce, slot.start_s)
        removed = book.remove(cancel.order_id)
        key = (slot.start_s, address_bytes(removed.owner))
        side, count = self._sides[key]
        if count > 1:
            self._sides[key] = (side, count - 1)
        else:
            del self._sides[key]
        return removed

    def post_company_offer(self, offer: Order, now: datetime | None = None) -> None:
        """Validate a company's signed standing (slot 0) or per-slot offer and store it."""
        validate_order(offer, self.domain)
        if offer.region != self.region:
            raise OrderError(f"offer is for region {offer.region!r}, not {self.region!r}")
        if offer.slot_start_s != STANDING_SLOT:
            self._require_kept(offer.slot_start_s)
        if offer.slot_start_s != STANDING_SLOT and now is not None:
            slot = self.slot(offer.slot_start_s)
            self.rules_for(slot).clock.require_open(slot, now)
        self._use_nonce(offer.owner, offer.nonce, offer.slot_start_s)
        self.companies.post_offer(offer)

    # --- clearing ----------------------------------------------------------------------------

    def clear(self, slot: Slot, now: datetime) -> ClearingResult:
        """Freeze and clear ``slot`` (after its gate closure); the result is kept and returned."""
        rules = self.rules_for(slot)
        if rules.clock.is_open(slot, now):
            raise MarketError(
                f"slot {slot} cannot be cleared before its gate closure at "
                f"{rules.clock.gate_closure(slot).isoformat()}"
            )
        self._require_kept(slot.start_s)
        if slot.start_s in self._results:
            return self._results[slot.start_s]
        book = self.book(slot)
        book.freeze()
        result = clear_slot(
            book.orders(),
            self.companies.offers_for(slot.start_s),
            rules,
            region=self.region,
            slot_start_s=slot.start_s,
        )
        self._results[slot.start_s] = result
        return result

    def result(self, slot: Slot) -> ClearingResult | None:
        self._require_kept(slot.start_s)
        return self._results.get(slot.start_s)


def clear_slot(
    orders: Iterable[Order],
    company_offers: Iterable[Order],
    rules: RuleSet,
    *,
    region: str,
    slot_start_s: int,
) -> ClearingResult:
    """Clear validated ``orders`` of one slot with the company offers in force, under ``rules``.

    Only the company offers some ask targets enter the book (and its hash)."""
    order_list = list(orders)
    targeted = {address_bytes(o.target) for o in order_list if o.targets_company}
    offers = [o for o in company_offers if address_bytes(o.owner) in targeted]
    book = BookArrays.from_orders(order_list, offers)
    return clear_book(book, rules, region=region, slot_start_s=slot_start_s)


def reclear(
    orders: Iterable[Order],
    company_offers: Iterable[Order],
    rules: RuleSet,
    *,
    region: str,
    slot_start_s: int,
    expected_hash: bytes,
) -> ClearingResult:
    """Re-clear a stored slot and check it reproduces ``expected_hash`` byte for byte.

    Raises :class:`MarketError` naming both hashes when it does not; returns the result otherwise.
    """
    result = clear_slot(orders, company_offers, rules, region=region, slot_start_s=slot_start_s)
    if result.hash != expected_hash:
        raise MarketError(
            f"re-clearing region {region!r} slot {slot_start_s} gives result hash "
            f"0x{result.hash.hex()}, not the recorded 0x{expected_hash.hex()}; the stored orders "
            "or the rule set differ from those the slot was cleared with"
        )
    return result
