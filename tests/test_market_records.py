"""The slot document: its limits, and the refusals it shares with the market's edge."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridledger.errors import OrderError
from gridledger.identity import ZERO_ADDRESS, Domain, Signer
from gridledger.market import Cancel, Order, RegionalMarket, RuleSet, Side, SlotOrders
from gridledger.market.records import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_ORDERS,
    MAX_JSON_DEPTH,
    json_depth,
    parse_document,
)

DOMAIN = Domain(1337)
SLOT = 1_800_000_000  # on the 15-min grid
ALICE, BOB, CAROL = (Signer(bytes([i]) * 32) for i in (5, 6, 7))
RULES = RuleSet()


def make(
    signer: Signer,
    side: Side,
    nonce: int,
    *,
    slot: int = SLOT,
    target: str = ZERO_ADDRESS,
    energy: int = 500,
    price: int = 150_000,
) -> Order:
    return Order.create(
        signer,
        DOMAIN,
        region="north",
        slot_start_s=slot,
        side=side,
        energy_wh=energy,
        price_micro_per_kwh=price,
        nonce=nonce,
        target=target,
    )


def test_a_good_document_clears() -> None:
    bid = make(ALICE, Side.BID, 1, price=250_000)
    doc = SlotOrders("north", SLOT, (bid, make(BOB, Side.ASK, 1)))
    assert doc.clear(RULES, DOMAIN).market_wh == 500


def test_replayed_nonce_is_refused() -> None:
    doc = SlotOrders(
        "north", SLOT, (make(ALICE, Side.BID, 1), make(ALICE, Side.BID, 1, energy=700))
    )
    with pytest.raises(OrderError, match=r"nonce 1 of .* is used twice"):
        doc.clear(RULES, DOMAIN)
    offer = make(ALICE, Side.BID, 1, slot=0, energy=900)
    with pytest.raises(OrderError, match="used twice"):  # across orders and offers too
        SlotOrders("north", SLOT, (make(ALICE, Side.BID, 1),), (offer,)).validate(DOMAIN)


def test_slot_start_off_the_grid_is_refused() -> None:
    off = SLOT + 60
    doc = SlotOrders("north", off, (make(ALICE, Side.BID, 1, slot=off),))
    with pytest.raises(OrderError, match="not the start of a 15-min slot"):
        doc.clear(RULES, DOMAIN)
    # on a 60-min grid the 15-min slot start is off the grid as well
    with pytest.raises(OrderError, match="60-min slot"):
        SlotOrders("north", SLOT + 900, ()).reclear(RuleSet(slot_minutes=60), DOMAIN, b"\0" * 32)


def test_trading_with_itself_is_refused() -> None:
    both_sides = SlotOrders("north", SLOT, (make(ALICE, Side.BID, 1), make(ALICE, Side.ASK, 2)))
    with pytest.raises(OrderError, match="both a bid and an ask"):
        both_sides.clear(RULES, DOMAIN)
    to_itself = SlotOrders(
        "north",
        SLOT,
        (make(ALICE, Side.ASK, 1, target=ALICE.address),),
        (make(ALICE, Side.BID, 2, slot=0),),
    )
    with pytest.raises(OrderError, match="addressed to itself"):
        to_itself.clear(RULES, DOMAIN)


def test_the_market_refuses_self_trading_too() -> None:
    market = RegionalMarket("north", chain_id=1337)
    before = datetime.fromtimestamp(SLOT - 3600, UTC)
    bid = make(ALICE, Side.BID, 1)
    market.submit(bid, before)
    market.submit(make(ALICE, Side.BID, 2, energy=100), before)  # more on the same side is fine
    with pytest.raises(OrderError, match="could trade with itself"):
        market.submit(make(ALICE, Side.ASK, 3), before)
    # a refused order does not burn its nonce
    market.submit(make(BOB, Side.ASK, 3), before)
    market.companies.register(CAROL.address, "carol energy")
    market.post_company_offer(make(CAROL, Side.BID, 1, slot=0), before)
    with pytest.raises(OrderError, match="addressed to itself"):
        market.submit(make(CAROL, Side.ASK, 2, target=CAROL.address), before)


def test_cancelling_frees_the_other_side() -> None:
    market = RegionalMarket("north", chain_id=1337)
    before = datetime.fromtimestamp(SLOT - 3600, UTC)
    bid = make(ALICE, Side.BID, 1)
    market.submit(bid, before)
    market.cancel(Cancel.create(ALICE, DOMAIN, bid, nonce=2), before)
    market.submit(make(ALICE, Side.ASK, 3), before)
    assert [o.side for o in market.book(market.slot(SLOT)).orders()] == [Side.ASK]


@pytest.mark.parametrize(
    ("raw", "depth"),
    [(b"{}", 1), (b"[[[]]]", 3), (b'{"a": "[[[[["}', 1), (b'"\\"[["', 0), (b"1", 0)],
)
def test_json_depth(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


def test_document_limits(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(OrderError, match=f"nested 100000 levels deep.*at most {MAX_JSON_DEPTH}"):
        parse_document(deep, "deep.json")
    with pytest.raises(OrderError, match="binary"):
        parse_document(b'{"region": "\x00"}', "bin.json")
    with pytest.raises(OrderError, match="not UTF-8 text \\(byte 12\\)"):
        parse_document(b'{"region": "\xff"}', "latin.json")
    with pytest.raises(OrderError, match="not valid JSON"):
        parse_document(b'{"region": ', "cut.json")
    with pytest.raises(OrderError, match="larger than"):
        parse_document(b" " * (MAX_DOCUMENT_BYTES + 1), "big.json")
    # the size is checked before reading: a sparse file of 1 GiB is refused at once
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(1 << 30)
    with pytest.raises(OrderError, match=f"1073741824 bytes, more than the {MAX_DOCUMENT_BYTES}"):
        SlotOrders.load(big)
    too_many = {"region": "north", "slot_start_s": SLOT, "orders": [{}] * (MAX_DOCUMENT_ORDERS + 1)}
    with pytest.raises(OrderError, match="at most 50000"):
        SlotOrders.from_dict(too_many)


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ([], "JSON object"),
        ({"region": "north", "slot_start_s": SLOT, "orders": [1]}, r"orders\[0\] must be a JSON"),
        ({"region": "north", "slot_start_s": SLOT, "orders": [{}]}, r"orders\[0\]: .*lacks"),
        (
            {"region": "north", "slot_start_s": SLOT, "orders": [{"side": ["bid"]}]},
            r"orders\[0\]",
        ),
        ({"region": "north", "slot_start_s": "x", "orders": []}, "must be an integer"),
    ],
)
def test_malformed_documents(document: object, match: str, tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document))
    with pytest.raises(OrderError, match=match):
        SlotOrders.load(path)


def test_brackets_inside_strings_neither_refuse_nor_hide_depth() -> None:
    # many brackets inside a string: the document is 2 levels deep and is read
    shallow = json.dumps({"region": "[" * 50, "note": "{" * 50}).encode()
    assert parse_document(shallow, "s.json")["region"] == "[" * 50
    # closing brackets inside strings lower the fast count; the parser's depth guard still holds
    hidden = b'["' + b"]" * 5000 + b'", ' + b"[" * 5000 + b"]" * 5000 + b"]"
    # other libraries raise the process's recursion limit (the Vyper compiler does): the guard
    # must not depend on json.loads running out of it
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(OrderError, match="nested"):
            parse_document(hidden, "h.json")
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(OrderError, match="nested"):
        parse_document(hidden, "h.json")
