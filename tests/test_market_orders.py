"""Orders and cancels: EIP-712 identity, signatures, validation at the edge."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from gridledger.errors import OrderError, SignatureError, ValidationError
from gridledger.identity import ORDER, ZERO_ADDRESS, Domain, Signer, region_id
from gridledger.market import Cancel, Order, Side, validate_cancel, validate_order
from gridledger.units import MAX_ENERGY_WH, MAX_PRICE_MICRO_PER_KWH

DOMAIN = Domain(1337)
ALICE = Signer(bytes.fromhex("11" * 32))
BOB = Signer(bytes.fromhex("22" * 32))
SLOT = 1_800_000_000


def make(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "region": "north",
        "slot_start_s": SLOT,
        "side": Side.BID,
        "energy_wh": 1500,
        "price_micro_per_kwh": 250_000,
        "nonce": 7,
    }
    fields.update(changes)
    return Order.create(ALICE, DOMAIN, **fields)


def test_order_id_is_the_eip712_struct_hash() -> None:
    order = make()
    assert order.order_id == ORDER.hash_struct(order.message)
    assert order.message["region"] == region_id("north")
    assert order.message["target"] == ZERO_ADDRESS
    assert validate_order(order, DOMAIN) is order


def test_signature_matches_eth_account_typed_data() -> None:
    order = make()
    typed = DOMAIN.typed_data(ORDER, order.message)
    signable = encode_typed_data(full_message=typed)
    assert Account.recover_message(signable, signature=order.signature) == ALICE.address


def test_round_trip_through_dict() -> None:
    order = make(side=Side.ASK)
    again = Order.from_dict(order.to_dict())
    assert again.order_id == order.order_id
    assert again.signature == order.signature
    validate_order(again, DOMAIN)


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"side": "buy"}, "side"),
        ({"signature": "0xzz"}, "hex"),
    ],
)
def test_from_dict_refuses_bad_records(record: dict[str, Any], match: str) -> None:
    data = make().to_dict() | record
    with pytest.raises(OrderError, match=match):
        Order.from_dict(data)


def test_from_dict_names_missing_field() -> None:
    data = make().to_dict()
    del data["nonce"]
    with pytest.raises(OrderError, match="nonce"):
        Order.from_dict(data)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"energy_wh": 0}, "energy_wh"),
        ({"energy_wh": -5}, "energy_wh"),
        ({"energy_wh": MAX_ENERGY_WH + 1}, "energy_wh"),
        ({"price_micro_per_kwh": -1}, "price"),
        ({"price_micro_per_kwh": MAX_PRICE_MICRO_PER_KWH + 1}, "price"),
        ({"nonce": -1}, "nonce"),
        ({"region": "North Side"}, "region"),
        ({"owner": "0x1234"}, "owner"),
    ],
)
def test_bad_fields_are_order_errors(changes: dict[str, Any], match: str) -> None:
    order = replace(make(), **changes)
    with pytest.raises(OrderError, match=match):
        validate_order(order, DOMAIN)


def test_energy_must_be_an_int() -> None:
    order = replace(make(), energy_wh=1.5)  # type: ignore[arg-type]
    with pytest.raises(OrderError, match="integer"):
        validate_order(order, DOMAIN)


def test_bid_cannot_target_a_company() -> None:
    order = replace(make(), target=BOB.address)
    with pytest.raises(OrderError, match="bid cannot target"):
        validate_order(order, DOMAIN)


def test_bad_signatures() -> None:
    order = make()
    with pytest.raises(SignatureError):
        validate_order(replace(order, signature=b""), DOMAIN)
    with pytest.raises(SignatureError, match="not made by"):
        validate_order(replace(order, owner=BOB.address), DOMAIN)
    with pytest.raises(SignatureError, match="not made by"):
        validate_order(order, Domain(1))  # signed for another chain
    with pytest.raises(SignatureError, match="not made by"):
        validate_order(replace(order, price_micro_per_kwh=1), DOMAIN)  # tampered


def test_errors_are_validation_errors() -> None:
    assert issubclass(OrderError, ValidationError)
    assert issubclass(SignatureError, ValueError)


def test_cancel_signature() -> None:
    order = make()
    cancel = Cancel.create(ALICE, DOMAIN, order, nonce=8)
    assert validate_cancel(cancel, DOMAIN) is cancel
    assert cancel.order_id == order.order_id
    with pytest.raises(SignatureError):
        validate_cancel(replace(cancel, nonce=9), DOMAIN)
    with pytest.raises(OrderError, match="32-byte"):
        validate_cancel(replace(cancel, order_id=b"\x01"), DOMAIN)
