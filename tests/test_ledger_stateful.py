"""A Hypothesis state machine over the market contract, run on every backend at once.

Rules: deposits, withdrawals, slot settlements of signed trades, delivery settlements, and bad
actors (forged signatures, an order reused in another slot or the same one, a slot settled twice).
A plain-Python model predicts every outcome with :func:`gridledger.units.cost_micro`. Invariants:
token supply is conserved, no balance goes negative (the chain equals the model, which never
does), escrow equals the market's token balance, no slot settles twice, and, when the embedded
backend exists, the embedded chain and anvil end every step in the same balances.

A modest run by default; ``--soak`` (or ``GRIDLEDGER_SOAK=1``) runs many more and longer ones.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gridledger.chain.backend import LedgerBackend
from gridledger.errors import ContractError
from gridledger.identity import Signer, address_bytes
from gridledger.ledger.sandbox import Sandbox
from gridledger.ledger.settlement import SlotStatus
from gridledger.ledger.trades import Delivery, SignedTrade
from gridledger.market import Side
from gridledger.units import cost_micro

SOAK = os.environ.get("GRIDLEDGER_SOAK", "") not in ("", "0")
HOUSEHOLDS = 4
MINT = 5_000_000
FIRST_SLOT = 1_767_225_600
RETAIL, FEED_IN, FEE = 300_000, 80_000, 20_000

trade_spec = st.tuples(
    st.integers(0, HOUSEHOLDS - 1),  # buyer
    st.integers(1, HOUSEHOLDS - 1),  # seller offset from the buyer (never the buyer)
    st.integers(1, 20_000),  # energy [Wh]
    st.integers(0, 400_000),  # price [micro/kWh]
)


@dataclass
class Model:
    """What the chain should hold: wallets and escrows per account index (0 = operator)."""

    wallet: list[int]
    escrow: list[int]
    slots: dict[int, SlotStatus] = field(default_factory=dict)


class MarketMachine(RuleBasedStateMachine):
    backends: ClassVar[list[LedgerBackend]] = []

    def __init__(self) -> None:
        super().__init__()
        self.worlds: list[Sandbox] = []
        self.next_slot = FIRST_SLOT
        self.settled: list[tuple[int, SignedTrade]] = []

    @initialize()
    def setup(self) -> None:
        seed = secrets.token_bytes(8)
        self.worlds = [
            Sandbox.create(
                backend,
                households=HOUSEHOLDS,
                seed=seed,
                mint_micro=MINT // 2,
                deposit_micro=MINT // 2,
                operator_deposit_micro=MINT,
            )
            for backend in self.backends
        ]
        n = HOUSEHOLDS + 1
        self.model = Model(
            wallet=[0] + [MINT // 2] * HOUSEHOLDS, escrow=[MINT] + [MINT // 2] * HOUSEHOLDS
        )
        assert len(self.model.wallet) == n

    # --- helpers -------------------------------------------------------------------------------

    @property
    def world(self) -> Sandbox:
        return self.worlds[0]

    def _signer(self, world: Sandbox, i: int) -> Signer:
        return world.operator if i == 0 else world.households[i - 1]

    def _outcome(self, action: Callable[[Sandbox], object]) -> str | None:
        """Run ``action(world)`` on every world; all must agree; returns the revert reason."""
        outcomes: list[str | None] = []
        for world in self.worlds:
            try:
                action(world)
                outcomes.append(None)
            except ContractError as exc:
                outcomes.append(exc.reason or str(exc))
        assert len(set(outcomes)) == 1, f"backends disagree: {outcomes}"
        return outcomes[0]

    def _trades(self, specs: list[tuple[int, int, int, int]], slot: int) -> list[list[SignedTrade]]:
        """The same signed trades for every world (keys are the same, nonces too)."""
        out: list[list[SignedTrade]] = [[] for _ in self.worlds]
        for buyer, offset, energy, price in specs:
            seller = (buyer + offset) % HOUSEHOLDS
            for k, world in enumerate(self.worlds):
                h = world.households
                bid = world.order(h[buyer], slot, Side.BID, energy, price + FEE)
                ask = world.order(h[seller], slot, Side.ASK, energy, price)
                out[k].append(world.trade(bid, ask, energy, price))
        return out

    # --- rules ---------------------------------------------------------------------------------

    @rule(who=st.integers(1, HOUSEHOLDS), amount=st.integers(1, MINT))
    def deposit(self, who: int, amount: int) -> None:
        reason = self._outcome(lambda w: w.deployment.market.deposit(self._signer(w, who), amount))
        if amount <= self.model.wallet[who]:
            assert reason is None
            self.model.wallet[who] -= amount
            self.model.escrow[who] += amount
        else:
            assert reason is not None

    @rule(who=st.integers(0, HOUSEHOLDS), amount=st.integers(1, MINT * 2))
    def withdraw(self, who: int, amount: int) -> None:
        reason = self._outcome(lambda w: w.deployment.market.withdraw(self._signer(w, who), amount))
        if amount <= self.model.escrow[who]:
            assert reason is None
            self.model.escrow[who] -= amount
            self.model.wallet[who] += amount
        else:
            assert reason == "escrow too low"

    @rule(specs=st.lists(trade_spec, min_size=0, max_size=4))
    def settle_slot(self, specs: list[tuple[int, int, int, int]]) -> None:
        slot = self.next_slot
        self.next_slot += 900
        per_world = self._trades(specs, slot)
        escrow = list(self.model.escrow)
        ok = True
        for t in per_world[0]:
            b = 1 + [h.address_bytes for h in self.world.households].index(
                address_bytes(t.trade.buyer)
            )
            s = 1 + [h.address_bytes for h in self.world.households].index(
                address_bytes(t.trade.seller)
            )
            amount, fee = (
                cost_micro(t.energy_wh, t.price_micro_per_kwh),
                cost_micro(t.energy_wh, FEE),
            )
            if escrow[b] < amount + fee:
                ok = False
                break
            escrow[b] -= amount + fee
            escrow[s] += amount
            escrow[0] += fee
        reasons: list[str | None] = []
        for k, world in enumerate(self.worlds):
            try:
                world.deployment.market.settle_trades(
                    world.operator,
                    slot,
                    per_world[k],
                    orders_root=Sandbox.orders_root(per_world[k]),
                )
                reasons.append(None)
            except ContractError as exc:
                reasons.append(exc.reason)
        assert len(set(reasons)) == 1, reasons
        if ok:
            assert reasons[0] is None
            self.model.escrow = escrow
            self.model.slots[slot] = SlotStatus.TRADED
            self.settled.extend((slot, t) for t in per_world[0])
        else:
            assert reasons[0] == "buyer escrow too low"

    @precondition(lambda self: any(s == SlotStatus.TRADED for s in self.model.slots.values()))
    @rule(data=st.data())
    def settle_delivery(self, data: st.DataObject) -> None:
        traded = sorted(s for s, v in self.model.slots.items() if v == SlotStatus.TRADED)
        slot = data.draw(st.sampled_from(traded))
        metered = data.draw(
            st.lists(
                st.tuples(st.integers(0, 30_000), st.integers(0, 30_000)),
                min_size=HOUSEHOLDS,
                max_size=HOUSEHOLDS,
            )
        )
        bought = [0] * HOUSEHOLDS
        sold = [0] * HOUSEHOLDS
        addrs = [h.address_bytes for h in self.world.households]
        for s, t in self.settled:
            if s == slot:
                bought[addrs.index(address_bytes(t.trade.buyer))] += t.energy_wh
                sold[addrs.index(address_bytes(t.trade.seller))] += t.energy_wh
        entries = [
            Delivery(addrs[i], bought[i], sold[i], metered[i][0], metered[i][1])
            for i in range(HOUSEHOLDS)
        ]
        escrow = list(self.model.escrow)
        for i, e in enumerate(entries):
            due = e.settlement_micro(RETAIL, FEED_IN)
            paid = min(due, escrow[i + 1]) if due > 0 else due
            escrow[i + 1] -= paid
            escrow[0] += paid
        expect_ok = escrow[0] >= 0

        def run(w: Sandbox) -> None:
            mine = [
                Delivery(h.address_bytes, e.bought_wh, e.sold_wh, e.import_wh, e.export_wh)
                for h, e in zip(w.households, entries, strict=True)
            ]
            w.deployment.market.settle_delivery(w.operator, slot, mine, readings_root=b"\x07" * 32)

        reason = self._outcome(run)
        if expect_ok:
            assert reason is None
            self.model.escrow = escrow
            self.model.slots[slot] = SlotStatus.DELIVERED
        else:
            assert reason == "operator escrow too low for the feed-in credits"

    @precondition(lambda self: bool(self.model.slots))
    @rule(data=st.data())
    def settle_twice(self, data: st.DataObject) -> None:
        """A bad operator: settling a settled slot again is refused by the chain."""
        slot = data.draw(st.sampled_from(sorted(self.model.slots)))
        specs = [(0, 1, 10, 100_000)]
        per_world = self._trades(specs, slot)
        reasons: list[str | None] = []
        for k, world in enumerate(self.worlds):
            market = world.deployment.market
            first = market.slot(slot).trade_count
            call_data = market.encode_settle_trades(
                slot, bytes(32), first, per_world[k], True, bytes(32)
            )
            try:
                world.backend.estimate_gas(market.address, call_data, world.operator.address_bytes)
                reasons.append(None)
            except ContractError as exc:
                reasons.append(exc.reason)
        assert reasons == ["slot is settled already"] * len(self.worlds)

    @precondition(lambda self: bool(self.settled))
    @rule(data=st.data(), same_slot=st.booleans())
    def reuse_signature(self, data: st.DataObject, same_slot: bool) -> None:
        """A bad operator replays a settled trade's signed orders, in a new slot or its own."""
        old_slot, trade = data.draw(st.sampled_from(self.settled))
        slot = old_slot if same_slot else self.next_slot
        reasons: list[str | None] = []
        for world in self.worlds:
            market = world.deployment.market
            first = market.slot(slot).trade_count
            call_data = market.encode_settle_trades(
                slot, bytes(32), first, [trade], True, bytes(32)
            )
            try:
                world.backend.estimate_gas(market.address, call_data, world.operator.address_bytes)
                reasons.append(None)
            except ContractError as exc:
                reasons.append(exc.reason)
        expected = "slot is settled already" if same_slot else "bid signature invalid"
        assert reasons == [expected] * len(self.worlds)

    @rule(spec=trade_spec, forger=st.integers(0, HOUSEHOLDS - 1))
    def forged_signature(self, spec: tuple[int, int, int, int], forger: int) -> None:
        """A bid in a household's name signed by another key is refused; nothing moves."""
        buyer, _, energy, price = spec
        if forger == buyer:
            forger = (forger + 1) % HOUSEHOLDS
        slot = self.next_slot
        self.next_slot += 900
        per_world = self._trades([spec], slot)
        for k, world in enumerate(self.worlds):
            t = per_world[k][0]
            fake = world.order(world.households[forger], slot, Side.BID, energy, price + FEE)
            bid = replace(t.bid, signature=fake.signature)
            forged = world.trade(bid, t.ask, energy, price)
            with pytest.raises(ContractError) as info:
                world.deployment.market.settle_trades(
                    world.operator, slot, [forged], orders_root=bytes(32)
                )
            assert info.value.reason == "bid signature invalid"
            assert world.deployment.market.slot(slot).status == SlotStatus.NONE

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def balances_match_model_and_are_conserved(self) -> None:
        if not self.worlds:
            return
        snapshots = []
        for world in self.worlds:
            market, token = world.deployment.market, world.deployment.token
            people = [world.operator, *world.households]
            escrow = [market.escrow_of(p.address_bytes) for p in people]
            wallet = [token.balance_of(p.address_bytes) for p in people]
            held = token.balance_of(market.address)
            assert held == market.total_escrow() == sum(escrow)
            assert token.total_supply() == sum(wallet) + held + token.balance_of(
                world.admin.address_bytes
            )
            snapshots.append((escrow, wallet))
        assert snapshots[0] == (self.model.escrow, self.model.wallet)
        assert all(s == snapshots[0] for s in snapshots), "embedded and anvil balances differ"
        assert min(self.model.escrow) >= 0 and min(self.model.wallet) >= 0

    @invariant()
    def slots_never_reopen(self) -> None:
        for world in self.worlds:
            for slot, status in self.model.slots.items():
                assert world.deployment.market.slot(slot).status == status


MarketMachine.TestCase.settings = settings(
    max_examples=100 if SOAK else 6,
    stateful_step_count=40 if SOAK else 12,
    deadline=None,
    # shrinking replays whole chains and takes minutes; the failing steps are printed anyway
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.timeout(7200 if SOAK else 600)
def test_market_state_machine(request: pytest.FixtureRequest) -> None:
    """Run the machine on anvil and the embedded chain side by side."""
    backends: list[LedgerBackend] = [
        request.getfixturevalue("rpc_backend"),
        request.getfixturevalue("embedded_backend"),
    ]
    MarketMachine.backends = backends
    try:
        MarketMachine.TestCase("runTest").runTest()
    finally:
        MarketMachine.backends = []
