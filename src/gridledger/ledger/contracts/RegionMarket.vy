# pragma version 0.4.3
# pragma evm-version cancun
# pragma optimize gas
"""
@title gridledger region market settlement
@notice One contract per region. Holds the escrow of the region's participants in the payment
        token and settles each delivery slot:

        1. trades (``settle_trades``, one or more batches, the last with ``close=True``): every
           trade carries both parties' EIP-712 ``Order`` signatures, recovered here with
           ``ecrecover``, so the operator cannot invent a trade. Per order the cumulative filled
           energy is stored and may not exceed the order's energy; the trade price must be at
           least the ask limit and price + fee rate at most the bid limit. The buyer's escrow pays
           ``energy_wh * price // 1000`` to the seller and ``energy_wh * fee // 1000`` to the
           operator. The slot's orders Merkle root is recorded when the slot opens.
        2. delivery (``settle_delivery``, one or more batches): per account the metered net
           import is compared with the traded net position; the imbalance goes to the grid
           (the operator's escrow) at the retail price when the account took more than it
           traded (or delivered less), and comes from the grid at the feed-in price when it took
           less (or delivered more). The slot's readings Merkle root is recorded.

        A slot moves NONE -> TRADING -> TRADED -> DELIVERING -> DELIVERED, never back: it settles
        once. Trades are not stored, only emitted (``TradeSettled``) and folded into a running
        hash (``trades_hash``) that anyone can recompute from the events. Per-order fills are
        stored (``filled``) only between the batches of a slot that spans several transactions;
        the closing batch checks them in transient storage, since a closed slot never trades
        again and every order is signed for one slot.
"""

from ethereum.ercs import IERC20

interface Registry:
    def region_of(account: address) -> bytes32: view

MAX_TRADES: constant(uint256) = 1024
MAX_ENTRIES: constant(uint256) = 512

STATUS_NONE: constant(uint8) = 0
STATUS_TRADING: constant(uint8) = 1
STATUS_TRADED: constant(uint8) = 2
STATUS_DELIVERING: constant(uint8) = 3
STATUS_DELIVERED: constant(uint8) = 4

SIDE_BID: constant(uint8) = 0
SIDE_ASK: constant(uint8) = 1

DOMAIN_TYPEHASH: constant(bytes32) = keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
ORDER_TYPEHASH: constant(bytes32) = keccak256("Order(bytes32 region,uint64 slot,uint8 side,uint64 energyWh,uint64 priceMicroPerKwh,address owner,uint64 nonce,address target)")


# Order fields travel as full words (uint256) so that a batch is copied from calldata as it is,
# without a range check per field (which costs more than the rest of a trade in a Python EVM).
# The signature binds them: an order's id hashes each word exactly as EIP-712 encodes its
# ``uint64``/``address``/``uint8`` field, so no signer of a well-formed order can be
# impersonated with an out-of-range word. Owners are checked to be addresses, and the trade's own
# energy and price are range-checked where they are logged.
struct SignedOrder:
    energy_wh: uint256
    price_micro_per_kwh: uint256
    owner: uint256
    nonce: uint256
    target: uint256
    v: uint256
    r: bytes32
    s: bytes32

struct Trade:
    bid: SignedOrder
    ask: SignedOrder
    energy_wh: uint256
    price_micro_per_kwh: uint256

struct Delivery:
    account: address
    bought_wh: uint64
    sold_wh: uint64
    import_wh: uint64
    export_wh: uint64

struct SlotInfo:
    status: uint8
    fee_micro_per_kwh: uint64
    retail_micro_per_kwh: uint64
    feed_in_micro_per_kwh: uint64
    trade_count: uint64
    delivery_count: uint64
    energy_wh: uint256
    amount_micro: uint256
    fee_micro: uint256
    orders_root: bytes32
    trades_hash: bytes32
    trades_root: bytes32
    readings_root: bytes32


event Deposited:
    account: indexed(address)
    amount: uint256
    escrow: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256
    escrow: uint256

event GridPricesSet:
    retail_micro_per_kwh: uint64
    feed_in_micro_per_kwh: uint64
    fee_micro_per_kwh: uint64

event SlotOpened:
    slot: indexed(uint64)
    orders_root: bytes32
    fee_micro_per_kwh: uint64
    retail_micro_per_kwh: uint64
    feed_in_micro_per_kwh: uint64

event TradeSettled:
    slot: indexed(uint64)
    buyer: indexed(address)
    seller: indexed(address)
    bid_id: bytes32
    ask_id: bytes32
    energy_wh: uint64
    price_micro_per_kwh: uint64
    amount_micro: uint256
    fee_micro: uint256

event SlotSettled:
    slot: indexed(uint64)
    trade_count: uint64
    energy_wh: uint256
    amount_micro: uint256
    fee_micro: uint256
    trades_hash: bytes32
    trades_root: bytes32

event DeliverySettled:
    slot: indexed(uint64)
    account: indexed(address)
    imbalance_wh: int256
    due_micro: uint256
    paid_micro: uint256

event SlotDelivered:
    slot: indexed(uint64)
    readings_root: bytes32


TOKEN: public(immutable(IERC20))
REGISTRY: public(immutable(Registry))
REGION: public(immutable(bytes32))
OPERATOR: public(immutable(address))
DOMAIN_SEPARATOR: public(immutable(bytes32))

retail_micro_per_kwh: public(uint64)
feed_in_micro_per_kwh: public(uint64)
fee_micro_per_kwh: public(uint64)

escrow: public(HashMap[address, uint256])
total_escrow: public(uint256)
filled: public(HashMap[bytes32, uint256])
filled_now: transient(HashMap[bytes32, uint256])
slots: public(HashMap[uint64, SlotInfo])
delivered: public(HashMap[bytes32, bool])


@deploy
def __init__(token: IERC20, registry: Registry, region: bytes32, operator: address, retail_micro_per_kwh: uint64, feed_in_micro_per_kwh: uint64, fee_micro_per_kwh: uint64):
    assert operator != empty(address), "the operator cannot be the zero address"
    assert staticcall registry.region_of(operator) == region, "operator is not registered in this region"
    TOKEN = token
    REGISTRY = registry
    REGION = region
    OPERATOR = operator
    # verifyingContract = this market: an order signed for another deployment does not verify here
    DOMAIN_SEPARATOR = keccak256(abi_encode(DOMAIN_TYPEHASH, keccak256("gridledger"), keccak256("1"), chain.id, self))
    self.retail_micro_per_kwh = retail_micro_per_kwh
    self.feed_in_micro_per_kwh = feed_in_micro_per_kwh
    self.fee_micro_per_kwh = fee_micro_per_kwh
    log GridPricesSet(retail_micro_per_kwh=retail_micro_per_kwh, feed_in_micro_per_kwh=feed_in_micro_per_kwh, fee_micro_per_kwh=fee_micro_per_kwh)


@external
def set_grid_prices(retail_micro_per_kwh: uint64, feed_in_micro_per_kwh: uint64, fee_micro_per_kwh: uint64):
    """@notice New tariffs apply to slots opened from now on; open slots keep theirs."""
    assert msg.sender == OPERATOR, "only the region operator sets grid prices"
    self.retail_micro_per_kwh = retail_micro_per_kwh
    self.feed_in_micro_per_kwh = feed_in_micro_per_kwh
    self.fee_micro_per_kwh = fee_micro_per_kwh
    log GridPricesSet(retail_micro_per_kwh=retail_micro_per_kwh, feed_in_micro_per_kwh=feed_in_micro_per_kwh, fee_micro_per_kwh=fee_micro_per_kwh)


@external
def deposit(amount: uint256):
    """@notice Move ``amount`` tokens (approved beforehand) from the sender into its escrow."""
    assert amount > 0, "deposit a positive amount"
    assert staticcall REGISTRY.region_of(msg.sender) == REGION, "sender is not registered in this region"
    assert extcall TOKEN.transferFrom(msg.sender, self, amount), "token transfer failed"
    balance: uint256 = self.escrow[msg.sender] + amount
    self.escrow[msg.sender] = balance
    self.total_escrow += amount
    log Deposited(account=msg.sender, amount=amount, escrow=balance)


@external
def deposit_for(accounts: DynArray[address, 512], amounts: DynArray[uint256, 512]):
    """
    @notice Move tokens (approved beforehand) from the sender into the escrow of each of
            ``accounts``, all registered in this region: a utility or a sponsor funding many
            households at once. Only the account itself withdraws its escrow.
    """
    assert len(accounts) == len(amounts), "one amount per account"
    total: uint256 = 0
    for i: uint256 in range(len(accounts), bound=512):
        account: address = accounts[i]
        amount: uint256 = amounts[i]
        assert amount > 0, "deposit a positive amount"
        assert staticcall REGISTRY.region_of(account) == REGION, "account is not registered in this region"
        balance: uint256 = self.escrow[account] + amount
        self.escrow[account] = balance
        total += amount
        log Deposited(account=account, amount=amount, escrow=balance)
    assert extcall TOKEN.transferFrom(msg.sender, self, total), "token transfer failed"
    self.total_escrow += total


@external
def withdraw(amount: uint256):
    """@notice Move ``amount`` tokens from the sender's escrow back to the sender."""
    balance: uint256 = self.escrow[msg.sender]
    assert amount > 0, "withdraw a positive amount"
    assert balance >= amount, "escrow too low"
    balance = unsafe_sub(balance, amount)
    self.escrow[msg.sender] = balance
    self.total_escrow -= amount
    assert extcall TOKEN.transfer(msg.sender, amount), "token transfer failed"
    log Withdrawn(account=msg.sender, amount=amount, escrow=balance)


@view
@external
def order_id(slot: uint64, side: uint8, o: SignedOrder) -> bytes32:
    """@notice The EIP-712 struct hash of an order of this region (its id)."""
    return keccak256(abi_encode(ORDER_TYPEHASH, REGION, slot, side, o.energy_wh, o.price_micro_per_kwh, o.owner, o.nonce, o.target))


@external
def settle_trades(slot: uint64, orders_root: bytes32, first_trade: uint64, trades: DynArray[Trade, MAX_TRADES], close: bool, trades_root: bytes32):
    """
    @notice Settle one batch of a slot's trades. The first batch opens the slot and records
            ``orders_root``; later batches must pass the same root. ``first_trade`` is the index
            of the batch's first trade in the slot: a batch applies only right after the one
            before it, so when a batch fails the later ones fail too and the slot can resume.
            ``close`` ends the slot's trading and records ``trades_root`` (the Merkle root of the
            slot's trade leaves).
    """
    assert msg.sender == OPERATOR, "only the region operator settles"
    info: SlotInfo = self.slots[slot]
    if info.status == STATUS_NONE:
        info.status = STATUS_TRADING
        info.orders_root = orders_root
        info.fee_micro_per_kwh = self.fee_micro_per_kwh
        info.retail_micro_per_kwh = self.retail_micro_per_kwh
        info.feed_in_micro_per_kwh = self.feed_in_micro_per_kwh
        log SlotOpened(slot=slot, orders_root=orders_root, fee_micro_per_kwh=info.fee_micro_per_kwh, retail_micro_per_kwh=info.retail_micro_per_kwh, feed_in_micro_per_kwh=info.feed_in_micro_per_kwh)
    else:
        assert info.status == STATUS_TRADING, "slot is settled already"
        assert info.orders_root == orders_root, "orders root differs from the one the slot opened with"
    assert info.trade_count == first_trade, "batch out of order: first_trade is not the slot's trade count"

    fee_rate: uint256 = convert(info.fee_micro_per_kwh, uint256)
    chain_hash: bytes32 = info.trades_hash
    energy_total: uint256 = 0
    amount_total: uint256 = 0
    fee_total: uint256 = 0
    # An order is signed for one slot and a slot trades once, so fills matter only until the slot
    # closes: the closing batch keeps them in transient storage (100 gas instead of 22,100);
    # earlier batches of a multi-transaction slot store them for the batches after, and only a
    # later batch has stored fills to read.
    stored_fills: bool = first_trade != 0
    for i: uint256 in range(len(trades), bound=MAX_TRADES):
        t: Trade = trades[i]
        buyer: address = convert(convert(t.bid.owner, uint160), address)
        seller: address = convert(convert(t.ask.owner, uint160), address)
        assert buyer != seller, "buyer and seller are the same account"
        assert t.bid.target == 0 or t.bid.target == t.ask.owner, "bid is addressed to another seller"
        assert t.ask.target == 0 or t.ask.target == t.bid.owner, "ask is addressed to another buyer"
        energy: uint256 = t.energy_wh
        price: uint256 = t.price_micro_per_kwh
        assert energy > 0, "trade energy is zero"
        assert price >= t.ask.price_micro_per_kwh, "price below the ask limit"
        assert price + fee_rate <= t.bid.price_micro_per_kwh, "price plus fee above the bid limit"

        bid_id: bytes32 = keccak256(abi_encode(ORDER_TYPEHASH, REGION, slot, SIDE_BID, t.bid.energy_wh, t.bid.price_micro_per_kwh, t.bid.owner, t.bid.nonce, t.bid.target))
        assert buyer != empty(address), "bid owner is the zero address"
        assert ecrecover(keccak256(concat(x"1901", DOMAIN_SEPARATOR, bid_id)), t.bid.v, t.bid.r, t.bid.s) == buyer, "bid signature invalid"
        ask_id: bytes32 = keccak256(abi_encode(ORDER_TYPEHASH, REGION, slot, SIDE_ASK, t.ask.energy_wh, t.ask.price_micro_per_kwh, t.ask.owner, t.ask.nonce, t.ask.target))
        assert seller != empty(address), "ask owner is the zero address"
        assert ecrecover(keccak256(concat(x"1901", DOMAIN_SEPARATOR, ask_id)), t.ask.v, t.ask.r, t.ask.s) == seller, "ask signature invalid"

        fill: uint256 = self.filled_now[bid_id]
        if fill == 0 and stored_fills:
            fill = self.filled[bid_id]
        fill += energy
        assert fill <= t.bid.energy_wh, "bid overfilled"
        self.filled_now[bid_id] = fill
        if not close:
            self.filled[bid_id] = fill
        fill = self.filled_now[ask_id]
        if fill == 0 and stored_fills:
            fill = self.filled[ask_id]
        fill += energy
        assert fill <= t.ask.energy_wh, "ask overfilled"
        self.filled_now[ask_id] = fill
        if not close:
            self.filled[ask_id] = fill

        amount: uint256 = energy * price // 1000
        fee: uint256 = energy * fee_rate // 1000
        cost: uint256 = amount + fee
        buyer_escrow: uint256 = self.escrow[buyer]
        assert buyer_escrow >= cost, "buyer escrow too low"
        self.escrow[buyer] = unsafe_sub(buyer_escrow, cost)
        self.escrow[seller] += amount

        chain_hash = keccak256(concat(chain_hash, keccak256(abi_encode(bid_id, ask_id, buyer, seller, energy, price, fee))))
        energy_total += energy
        amount_total += amount
        fee_total += fee
        log TradeSettled(slot=slot, buyer=buyer, seller=seller, bid_id=bid_id, ask_id=ask_id, energy_wh=convert(energy, uint64), price_micro_per_kwh=convert(price, uint64), amount_micro=amount, fee_micro=fee)

    if fee_total > 0:
        self.escrow[OPERATOR] += fee_total
    info.trade_count += convert(len(trades), uint64)
    info.energy_wh += energy_total
    info.amount_micro += amount_total
    info.fee_micro += fee_total
    info.trades_hash = chain_hash
    if close:
        info.status = STATUS_TRADED
        info.trades_root = trades_root
        log SlotSettled(slot=slot, trade_count=info.trade_count, energy_wh=info.energy_wh, amount_micro=info.amount_micro, fee_micro=info.fee_micro, trades_hash=chain_hash, trades_root=trades_root)
    self.slots[slot] = info


@external
def settle_delivery(slot: uint64, readings_root: bytes32, first_entry: uint64, entries: DynArray[Delivery, MAX_ENTRIES], close: bool):
    """
    @notice Settle one batch of a slot's imbalances after delivery; the first batch records
            ``readings_root`` (the Merkle root of the slot's meter readings), ``close`` ends the
            slot; ``first_entry`` orders the batches as in ``settle_trades``. Each account settles
            at most once per slot. An account that owes more than its
            escrow pays what it has (``paid_micro < due_micro`` in the event).
    """
    assert msg.sender == OPERATOR, "only the region operator settles"
    info: SlotInfo = self.slots[slot]
    if info.status == STATUS_TRADED:
        info.status = STATUS_DELIVERING
        info.readings_root = readings_root
    else:
        assert info.status == STATUS_DELIVERING, "slot is not waiting for delivery settlement"
        assert info.readings_root == readings_root, "readings root differs from the first batch"
    assert info.delivery_count == first_entry, "batch out of order: first_entry is not the slot's entry count"

    retail: int256 = convert(info.retail_micro_per_kwh, int256)
    feed_in: int256 = convert(info.feed_in_micro_per_kwh, int256)
    to_grid: uint256 = 0
    from_grid: uint256 = 0
    for e: Delivery in entries:
        key: bytes32 = keccak256(abi_encode(slot, e.account))
        assert not self.delivered[key], "account is settled already for this slot"
        self.delivered[key] = True
        traded: int256 = convert(e.bought_wh, int256) - convert(e.sold_wh, int256)
        metered: int256 = convert(e.import_wh, int256) - convert(e.export_wh, int256)
        imbalance: int256 = metered - traded
        due: uint256 = 0
        paid: uint256 = 0
        if imbalance > 0:
            due = convert(imbalance * retail // 1000, uint256)
            paid = min(due, self.escrow[e.account])
            self.escrow[e.account] -= paid
            to_grid += paid
        elif imbalance < 0:
            due = convert(-imbalance * feed_in // 1000, uint256)
            paid = due
            self.escrow[e.account] += paid
            from_grid += paid
        log DeliverySettled(slot=slot, account=e.account, imbalance_wh=imbalance, due_micro=due, paid_micro=paid)

    operator_escrow: uint256 = self.escrow[OPERATOR] + to_grid
    assert operator_escrow >= from_grid, "operator escrow too low for the feed-in credits"
    self.escrow[OPERATOR] = unsafe_sub(operator_escrow, from_grid)
    info.delivery_count += convert(len(entries), uint64)
    if close:
        info.status = STATUS_DELIVERED
        log SlotDelivered(slot=slot, readings_root=readings_root)
    self.slots[slot] = info
