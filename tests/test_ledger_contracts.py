"""The contracts on every backend: registry, token, escrow, slot settlement, delivery, events.

Each test runs on anvil (JSON-RPC) and on the embedded chain, against contracts it deploys itself.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import replace

import pytest
from eth_abi.abi import decode as abi_decode

from gridledger.chain.backend import LedgerBackend
from gridledger.errors import ContractError, LedgerError
from gridledger.identity import ORDER, Domain, Signer, address_bytes, checksum, region_id
from gridledger.ledger import merkle
from gridledger.ledger.registry import Role
from gridledger.ledger.sandbox import Sandbox
from gridledger.ledger.settlement import GasModel, MarketClient, SlotStatus
from gridledger.ledger.trades import Delivery, SignedTrade, order_leaf, trade_hash, trade_leaf
from gridledger.market import Order, Side
from gridledger.units import cost_micro

SLOT = 1_767_225_600
FEE = 20_000


@pytest.fixture
def bed(ledger_backend: LedgerBackend) -> Sandbox:
    """A fresh region with 6 households (fresh keys, so tests never share accounts)."""
    return Sandbox.create(ledger_backend, households=6, seed=secrets.token_bytes(8))


def _trade(
    bed: Sandbox, buyer: Signer, seller: Signer, energy: int, price: int, slot: int = SLOT
) -> SignedTrade:
    bid = bed.order(buyer, slot, Side.BID, energy, price + FEE)
    ask = bed.order(seller, slot, Side.ASK, energy, price)
    return bed.trade(bid, ask, energy, price)


def _escrows(bed: Sandbox) -> list[int]:
    m = bed.deployment.market
    return [m.escrow_of(h.address_bytes) for h in [bed.operator, *bed.households]]


def test_domain_and_order_id_match_identity(bed: Sandbox) -> None:
    market = bed.deployment.market
    assert (
        market.domain_separator()
        == Domain.of_contract(bed.backend.chain_id, market.address).separator
    )
    assert market.domain_separator() != Domain(bed.backend.chain_id).separator
    order = bed.order(bed.households[0], SLOT, Side.BID, 1234, 99_000)
    onchain = market.call(
        "order_id",
        SLOT,
        Side.BID,
        (
            order.energy_wh,
            order.price_micro_per_kwh,
            int.from_bytes(address_bytes(order.owner)),
            order.nonce,
            int.from_bytes(address_bytes(order.target)),
            order.signature[64],
            order.signature[:32],
            order.signature[32:64],
        ),
    )
    assert onchain == order.order_id == ORDER.hash_struct(order.message)


def test_registry_roles(bed: Sandbox) -> None:
    reg = bed.deployment.registry
    region = bed.deployment.region
    home = bed.households[0]
    assert reg.role_of(home.address_bytes) == Role.HOUSEHOLD
    assert reg.role_of(bed.operator.address_bytes) == Role.OPERATOR
    assert reg.operator_of(region) == bed.operator.address_bytes
    company = Signer.generate()
    with pytest.raises(ContractError, match="only the region operator registers"):
        reg.register(home, company.address_bytes, Role.COMPANY, region)
    reg.register(bed.operator, company.address_bytes, Role.COMPANY, region)
    assert reg.role_of(company.address_bytes) == Role.COMPANY
    with pytest.raises(ContractError, match="registered already"):
        reg.register(bed.operator, company.address_bytes, Role.DEVICE, region)
    with pytest.raises(ContractError, match="region exists already"):
        reg.add_region(bed.admin, region, Signer.generate().address_bytes)
    with pytest.raises(ContractError, match="only the admin"):
        reg.add_region(home, region_id("north"), home.address_bytes)
    reg.deregister(bed.operator, company.address_bytes)
    assert reg.role_of(company.address_bytes) == Role.NONE
    events = [e.name for e in reg.events()]
    assert events.count("ParticipantRegistered") == 1 + 6 + 1
    assert "ParticipantRemoved" in events


def test_token_mint_only_by_issuer(bed: Sandbox) -> None:
    token = bed.deployment.token
    home = bed.households[0]
    supply = token.total_supply()
    with pytest.raises(ContractError, match="only the issuer mints"):
        token.mint(home, home.address_bytes, 1)
    token.mint(bed.admin, home.address_bytes, 5)
    assert token.total_supply() == supply + 5
    with pytest.raises(ContractError, match="balance too low"):
        token.transfer(bed.households[1], home.address_bytes, 10**30)


def test_deposit_and_withdraw(bed: Sandbox) -> None:
    market = bed.deployment.market
    token = bed.deployment.token
    home = bed.households[0]
    before = market.escrow_of(home.address_bytes)
    wallet = token.balance_of(home.address_bytes)
    market.deposit(home, 1_000)
    market.withdraw(home, 300)
    assert market.escrow_of(home.address_bytes) == before + 700
    assert token.balance_of(home.address_bytes) == wallet - 700
    assert market.total_escrow() == token.balance_of(market.address)
    with pytest.raises(ContractError, match="escrow too low"):
        market.withdraw(home, before + 701)
    stranger = Signer.generate()
    bed.backend.fund(stranger.address_bytes, 10**21)
    token.mint(bed.admin, stranger.address_bytes, 10)
    with pytest.raises(ContractError, match="not registered in this region"):
        market.deposit(stranger, 10)
    names = [e.name for e in market.events("Withdrawn")]
    assert names == ["Withdrawn"]


def test_settle_slot_moves_payments_and_records_roots(bed: Sandbox) -> None:
    market = bed.deployment.market
    h = bed.households
    trades = [_trade(bed, h[0], h[1], 1500, 120_000), _trade(bed, h[2], h[3], 333, 101_001)]
    before = _escrows(bed)
    orders_root = bed.orders_root(trades)
    result = market.settle_trades(bed.operator, SLOT, trades, orders_root=orders_root)
    assert result.transactions == 1
    after = _escrows(bed)
    for t, (b, s) in zip(trades, [(1, 2), (3, 4)], strict=True):
        amount = cost_micro(t.energy_wh, t.price_micro_per_kwh)
        fee = cost_micro(t.energy_wh, FEE)
        assert after[b] == before[b] - amount - fee
        assert after[s] == before[s] + amount
    assert after[0] == before[0] + sum(cost_micro(t.energy_wh, FEE) for t in trades)
    assert sum(after) == sum(before)

    state = market.slot(SLOT)
    assert state.status == SlotStatus.TRADED
    assert state.trade_count == 2 and state.energy_wh == 1833
    assert state.orders_root == orders_root
    assert state.trades_root == result.root
    events = market.verify_slot_trades(SLOT)
    assert [e.trade.bid_id for e in events] == [t.bid.order_id for t in trades]
    for t in trades:
        proof = market.trade_proof(SLOT, trade_hash(t.trade))
        assert merkle.verify_proof(state.trades_root, trade_leaf(t.trade), proof)
        leaves = {order_leaf(x.bid) for x in trades} | {order_leaf(x.ask) for x in trades}
        tree = merkle.MerkleTree.build(leaves)
        ask_leaf = order_leaf(t.ask)
        assert merkle.verify_proof(state.orders_root, ask_leaf, tree.proof(ask_leaf))


def test_slot_settles_once(bed: Sandbox) -> None:
    market = bed.deployment.market
    h = bed.households
    trades = [_trade(bed, h[0], h[1], 100, 100_000)]
    market.settle_trades(bed.operator, SLOT, trades, orders_root=bytes(32))
    again = [_trade(bed, h[2], h[3], 100, 100_000)]
    with pytest.raises(ContractError, match="settled already"):
        market.settle_trades(bed.operator, SLOT, again, orders_root=bytes(32))
    # the chain itself refuses, not just the client
    data = market.encode_settle_trades(SLOT, bytes(32), 1, again, True, bytes(32))
    with pytest.raises(ContractError, match="slot is settled already"):
        bed.backend.estimate_gas(market.address, data, bed.operator.address_bytes)


@pytest.mark.parametrize(
    "tamper, reason",
    [
        ("forged_bid", "bid signature invalid"),
        ("forged_ask", "ask signature invalid"),
        ("changed_energy", "ask signature invalid"),
        ("other_slot", "bid signature invalid"),
        ("other_market", "bid signature invalid"),
        ("chain_only_domain", "bid signature invalid"),
        ("price_below_ask", "price below the ask limit"),
        ("price_above_bid", "price plus fee above the bid limit"),
        ("overfill", "bid overfilled"),
        ("self_trade", "buyer and seller are the same account"),
        ("wrong_target", "ask is addressed to another buyer"),
        ("not_operator", "only the region operator settles"),
    ],
)
def test_bad_trades_are_refused_on_chain(bed: Sandbox, tamper: str, reason: str) -> None:
    market = bed.deployment.market
    h = bed.households
    trade = _trade(bed, h[0], h[1], 1000, 100_000)
    sender = bed.operator
    if tamper == "forged_bid":  # a bid "of" h[0] signed by someone else
        forged = Order.create(
            h[4],
            bed.domain,
            region=bed.region,
            slot_start_s=SLOT,
            side=Side.BID,
            energy_wh=1000,
            price_micro_per_kwh=200_000,
            nonce=7,
        )
        bid = replace(trade.bid, signature=forged.signature)
        trade = bed.trade(bid, trade.ask, 1000, 100_000)
    elif tamper == "forged_ask":
        ask = replace(trade.ask, owner=h[3].address)
        trade = bed.trade(trade.bid, ask, 1000, 100_000)
    elif tamper == "changed_energy":
        ask = replace(trade.ask, energy_wh=5000)
        trade = bed.trade(trade.bid, ask, 5000, 100_000)
    elif tamper == "other_slot":
        trade = _trade(bed, h[0], h[1], 1000, 100_000, slot=SLOT + 900)
    elif tamper in ("other_market", "chain_only_domain"):
        # the same bid, signed for another deployment of this region's market on this chain
        # (or for no contract): a replay that EIP-712's verifyingContract must stop
        chain_id = bed.backend.chain_id
        domain = (
            Domain.of_contract(chain_id, b"\x42" * 20)
            if tamper == "other_market"
            else Domain(chain_id)
        )
        b = trade.bid
        bid = Order.create(
            h[0], domain, region=b.region, slot_start_s=b.slot_start_s, side=b.side,
            energy_wh=b.energy_wh, price_micro_per_kwh=b.price_micro_per_kwh, nonce=b.nonce,
        )  # fmt: skip
        assert bid.order_id == b.order_id and bid.signature != b.signature
        trade = bed.trade(bid, trade.ask, 1000, 100_000)
    elif tamper == "price_below_ask":
        trade = bed.trade(trade.bid, trade.ask, 1000, 99_999)
    elif tamper == "price_above_bid":
        trade = bed.trade(trade.bid, trade.ask, 1000, 100_001)
    elif tamper == "overfill":
        trade = bed.trade(trade.bid, trade.ask, 1001, 100_000)
    elif tamper == "self_trade":
        trade = _trade(bed, h[0], h[0], 1000, 100_000)
    elif tamper == "wrong_target":
        ask = bed.order(h[1], SLOT, Side.ASK, 1000, 100_000, target=h[5].address_bytes)
        trade = bed.trade(trade.bid, ask, 1000, 100_000)
    elif tamper == "not_operator":
        sender = h[2]
    before = _escrows(bed)
    with pytest.raises(ContractError, match=reason):
        market.settle_trades(sender, SLOT, [trade], orders_root=bytes(32))
    assert _escrows(bed) == before
    assert market.slot(SLOT).status == SlotStatus.NONE


def test_reused_order_is_refused_across_batches(bed: Sandbox) -> None:
    """An order filled in one transaction of a slot cannot be filled again in a later one."""
    market = bed.deployment.market
    h = bed.households
    t1 = _trade(bed, h[0], h[1], 600, 100_000)
    market.settle_trades(bed.operator, SLOT, [t1], orders_root=bytes(32), close=False)
    assert market.filled(t1.bid.order_id) == 600
    partial = bed.trade(t1.bid, bed.order(h[2], SLOT, Side.ASK, 600, 100_000), 600, 100_000)
    with pytest.raises(ContractError, match="bid overfilled"):
        market.settle_trades(bed.operator, SLOT, [t1, partial], orders_root=bytes(32))
    # the same order reused within one (closing) batch is refused as well
    t2 = _trade(bed, h[3], h[4], 500, 100_000)
    t3 = bed.trade(t2.bid, bed.order(h[5], SLOT, Side.ASK, 500, 100_000), 1, 100_000)
    with pytest.raises(ContractError, match="bid overfilled"):
        market.settle_trades(bed.operator, SLOT, [t1, t2, t3], orders_root=bytes(32))
    market.settle_trades(bed.operator, SLOT, [t1, t2], orders_root=bytes(32))
    assert market.slot(SLOT).trade_count == 2


def test_batches_split_resume_and_stay_in_order(bed: Sandbox) -> None:
    market = MarketClient(bed.backend, bed.deployment.market.address)
    market._trade_gas = GasModel(base=1_500_000, per_item=120_000, max_items=3)
    h = bed.households
    rng = random.Random(5)
    pairs = [rng.sample(h, 2) for _ in range(8)]
    trades = [_trade(bed, b, s, rng.randint(1, 900), 90_000) for b, s in pairs]
    # the buyer of trade 4 (second batch) cannot pay: batches 2 and 3 fail, batch 1 stays
    poor = address_bytes(trades[4].trade.buyer)
    poor_signer = next(x for x in h if x.address_bytes == poor)
    market.withdraw(poor_signer, market.escrow_of(poor))
    with pytest.raises(ContractError, match="buyer escrow too low"):
        market.settle_trades(bed.operator, SLOT, trades, orders_root=bytes(32))
    state = market.slot(SLOT)
    assert state.status == SlotStatus.TRADING and state.trade_count == 3
    market.deposit(poor_signer, 10**9)
    result = market.settle_trades(bed.operator, SLOT, trades, orders_root=bytes(32))
    assert result.transactions == 2 and result.items == 5
    assert market.slot(SLOT).trade_count == 8
    market.verify_slot_trades(SLOT)
    with pytest.raises(LedgerError):
        market.settle_trades(bed.operator, SLOT, trades[::-1], orders_root=bytes(32))


def test_batch_sizes_fit_the_gas_limit() -> None:
    model = GasModel(base=300_000, per_item=50_000, max_items=256)
    assert model.batch_sizes(0, 30_000_000) == [0]
    sizes = model.batch_sizes(1000, 30_000_000)
    assert sum(sizes) == 1000 and max(sizes) - min(sizes) <= 1
    assert all(model.gas(s, 30_000_000) <= 30_000_000 for s in sizes)
    assert len(sizes) == 4  # 256 per transaction at most
    assert len(model.batch_sizes(1000, 5_000_000)) == 12  # 89 per 5M block (95 % used)


def test_delivery_imbalance_at_grid_prices(bed: Sandbox) -> None:
    market = bed.deployment.market
    h = bed.households
    retail, feed_in, _ = market.grid_prices()
    trades = [_trade(bed, h[0], h[1], 1000, 100_000)]
    market.settle_trades(bed.operator, SLOT, trades, orders_root=bytes(32))
    entries = [
        Delivery(h[0].address_bytes, 1000, 0, 1400, 0),  # took 400 Wh more: pays retail
        Delivery(h[1].address_bytes, 0, 1000, 0, 700),  # delivered 300 Wh less: pays retail
        Delivery(h[2].address_bytes, 0, 0, 0, 250),  # exported untraded: gets feed-in
        Delivery(h[3].address_bytes, 0, 0, 0, 0),
    ]
    readings = [merkle.meter_leaf(e.account, SLOT, e.import_wh, e.export_wh) for e in entries]
    root = merkle.merkle_root(readings)
    before = _escrows(bed)
    market.settle_delivery(bed.operator, SLOT, entries, readings_root=root)
    after = _escrows(bed)
    assert after[1] - before[1] == -cost_micro(400, retail)
    assert after[2] - before[2] == -cost_micro(300, retail)
    assert after[3] - before[3] == cost_micro(250, feed_in)
    assert after[4] == before[4]
    assert sum(after) == sum(before)
    for e in entries:
        expected = e.settlement_micro(retail, feed_in)
        assert (
            before[1 + [x.account for x in entries].index(e.account)]
            - after[1 + [x.account for x in entries].index(e.account)]
            == expected
        )
    state = market.slot(SLOT)
    assert state.status == SlotStatus.DELIVERED and state.readings_root == root
    assert len(market.events("DeliverySettled")) == 4
    with pytest.raises(ContractError, match="not waiting for delivery"):
        market.settle_delivery(bed.operator, SLOT, entries[:1], readings_root=root)


def test_delivery_account_settles_once_per_slot(bed: Sandbox) -> None:
    market = bed.deployment.market
    h = bed.households
    market.settle_trades(bed.operator, SLOT, [], orders_root=bytes(32))
    entry = Delivery(h[0].address_bytes, 0, 0, 100, 0)
    with pytest.raises(ContractError, match="settled already for this slot"):
        market.settle_delivery(bed.operator, SLOT, [entry, entry], readings_root=bytes(32))
    market.settle_delivery(bed.operator, SLOT, [entry], readings_root=bytes(32), close=False)
    data = market.encode_settle_delivery(SLOT, bytes(32), 1, [entry], True)
    with pytest.raises(ContractError, match="settled already for this slot"):
        bed.backend.estimate_gas(market.address, data, bed.operator.address_bytes)


def test_hand_encoded_call_data_matches_eth_abi(bed: Sandbox) -> None:
    market = bed.deployment.market
    h = bed.households
    trades = [_trade(bed, h[0], h[1], 10, 1), _trade(bed, h[2], h[3], 7, 3)]

    def order_tuple(o: Order) -> tuple[object, ...]:
        sig = o.signature
        return (
            o.energy_wh,
            o.price_micro_per_kwh,
            int.from_bytes(address_bytes(o.owner)),
            o.nonce,
            int.from_bytes(address_bytes(o.target)),
            sig[64],
            sig[:32],
            sig[32:64],
        )

    args = [
        (order_tuple(t.bid), order_tuple(t.ask), t.energy_wh, t.price_micro_per_kwh) for t in trades
    ]
    ours = market.encode_settle_trades(SLOT, b"\x01" * 32, 4, trades, True, b"\x02" * 32)
    assert ours == market.abi.encode_call(
        "settle_trades", SLOT, b"\x01" * 32, 4, args, True, b"\x02" * 32
    )
    entries = [Delivery(h[0].address_bytes, 1, 2, 3, 4)]
    ours = market.encode_settle_delivery(SLOT, b"\x03" * 32, 2, entries, False)
    theirs = market.abi.encode_call(
        "settle_delivery", SLOT, b"\x03" * 32, 2, [(h[0].address_bytes, 1, 2, 3, 4)], False
    )
    assert ours == theirs
    assert abi_decode(["uint64"], ours[4:36]) == (SLOT,)


def test_bulk_registration_and_sponsored_deposits(bed: Sandbox) -> None:
    reg, market, token = bed.deployment.registry, bed.deployment.market, bed.deployment.token
    region = bed.deployment.region
    newcomers = [Signer.generate().address_bytes for _ in range(3)]
    with pytest.raises(ContractError, match="only the region operator registers in bulk"):
        reg.register_many(bed.households[0], newcomers, Role.HOUSEHOLD, region)
    reg.register_many(bed.operator, newcomers, Role.HOUSEHOLD, region)
    assert [reg.role_of(a) for a in newcomers] == [Role.HOUSEHOLD] * 3
    token.mint(bed.admin, bed.admin.address_bytes, 600)
    market.deposit_for(bed.admin, [(a, 100 * (i + 1)) for i, a in enumerate(newcomers)])
    assert [market.escrow_of(a) for a in newcomers] == [100, 200, 300]
    assert market.total_escrow() == token.balance_of(market.address)
    stranger = Signer.generate().address_bytes
    token.mint(bed.admin, bed.admin.address_bytes, 5)
    with pytest.raises(ContractError, match="not registered in this region"):
        market.deposit_for(bed.admin, [(stranger, 5)])


def test_verify_slot_finds_a_flipped_byte(bed: Sandbox) -> None:
    from dataclasses import replace

    from gridledger.errors import VerificationError
    from gridledger.ledger.verify import verify_slot

    market = bed.deployment.market
    h = bed.households
    trades = [_trade(bed, h[0], h[1], 700, 110_000), _trade(bed, h[2], h[3], 90, 95_000)]
    order_ids = [t.bid.order_id for t in trades] + [t.ask.order_id for t in trades]
    market.settle_trades(bed.operator, SLOT, trades, orders_root=bed.orders_root(trades))
    readings = [merkle.meter_leaf(a.address_bytes, SLOT, 700, 0) for a in h[:2]]
    market.settle_delivery(
        bed.operator,
        SLOT,
        [
            Delivery(h[0].address_bytes, 700, 0, 700, 0),
            Delivery(h[1].address_bytes, 0, 700, 0, 700),
        ],
        readings_root=merkle.merkle_root(readings),
    )
    stored = [t.trade for t in trades]
    report = verify_slot(market, SLOT, order_ids=order_ids, trades=stored, reading_leaves=readings)
    assert report.trades == 2 and report.readings == 2
    seller = address_bytes(stored[1].seller)
    flipped = replace(stored[1], seller=checksum(bytes([seller[0] ^ 1]) + seller[1:]))
    with pytest.raises(VerificationError, match=r"trade 1 .*seller"):
        verify_slot(market, SLOT, order_ids=order_ids, trades=[stored[0], flipped])
    bad_reading = [readings[0], bytes([readings[1][0] ^ 1]) + readings[1][1:]]
    with pytest.raises(VerificationError, match="readings give root"):
        verify_slot(market, SLOT, order_ids=order_ids, trades=stored, reading_leaves=bad_reading)
    with pytest.raises(VerificationError, match="orders give root"):
        verify_slot(market, SLOT, order_ids=order_ids[:-1], trades=stored)
