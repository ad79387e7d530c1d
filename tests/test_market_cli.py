"""``gridledger market clear`` and the slot document it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridledger.cli import main
from gridledger.errors import OrderError
from gridledger.identity import ZERO_ADDRESS, Domain, Signer
from gridledger.market import Order, RuleSet, Side, SlotOrders
from gridledger.market.tariff import GridTariff

DOMAIN = Domain(1337)
SLOT = 1_800_000_000
ALICE, BOB, UTILITY = (Signer(bytes([i]) * 32) for i in (5, 6, 7))


def document(domain: Domain = DOMAIN) -> SlotOrders:
    nonces = iter(range(1, 100))

    def make(
        signer: Signer,
        side: Side,
        energy: int,
        price: int,
        *,
        slot: int = SLOT,
        target: str = ZERO_ADDRESS,
    ) -> Order:
        return Order.create(
            signer,
            domain,
            region="north",
            slot_start_s=slot,
            side=side,
            energy_wh=energy,
            price_micro_per_kwh=price,
            nonce=next(nonces),
            target=target,
        )

    return SlotOrders(
        "north",
        SLOT,
        (
            make(ALICE, Side.BID, 1000, 300_000),
            make(BOB, Side.ASK, 1000, 100_000),
            make(BOB, Side.ASK, 500, 50_000, target=UTILITY.address),
        ),
        (make(UTILITY, Side.BID, 400, 120_000, slot=0),),
    )


@pytest.fixture
def slot_file(tmp_path: Path) -> Path:
    path = tmp_path / "slot.json"
    path.write_text(json.dumps(document().to_dict()))
    return path


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRIDLEDGER_CONFIG", raising=False)
    return CliRunner()


def test_clear_prints_result_and_hash(runner: CliRunner, slot_file: Path) -> None:
    out = runner.invoke(main, ["market", "clear", "--file", str(slot_file), "--trades"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    # defaults: retail 300k, feed-in 80k, fee 20k -> midpoint of [100k, 280k]
    assert data["clearing_price_micro_per_kwh"] == 190_000
    assert data["market_wh"] == 1000 and data["company_wh"] == 400
    assert data["unmatched_supply_wh"] == 100
    assert len(data["trades"]) == 2
    rules = RuleSet(tariff=GridTariff(300_000, 80_000, 20_000))
    expected = document().clear(rules, DOMAIN).hash
    assert data["hash"] == "0x" + expected.hex()

    again = runner.invoke(
        main, ["market", "clear", "--file", str(slot_file), "--expect-hash", data["hash"]]
    )
    assert again.exit_code == 0, again.output
    wrong = runner.invoke(
        main, ["market", "clear", "--file", str(slot_file), "--expect-hash", "0x" + "00" * 32]
    )
    assert wrong.exit_code == 1
    assert "re-clearing" in wrong.output


def test_pay_as_bid_rule(runner: CliRunner, slot_file: Path) -> None:
    out = runner.invoke(main, ["market", "clear", "--file", str(slot_file), "--rule", "pay_as_bid"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["rules"]["clearing_rule"] == "pay_as_bid"
    assert data["amount_micro"] == 280_000 + 400 * 100


def test_orders_signed_for_a_market_contract(runner: CliRunner, tmp_path: Path) -> None:
    contract = "0x" + "7c" * 20
    path = tmp_path / "market.json"
    path.write_text(json.dumps(document(Domain.of_contract(1337, contract)).to_dict()))
    chain_only = runner.invoke(main, ["market", "clear", "--file", str(path)])
    assert chain_only.exit_code == 4 and "signature" in chain_only.output  # SignatureError
    bound = runner.invoke(main, ["market", "clear", "--file", str(path), "--market", contract])
    assert bound.exit_code == 0, bound.output
    assert json.loads(bound.output)["market_wh"] == 1000
    bad = runner.invoke(main, ["market", "clear", "--file", str(path), "--market", "0x1234"])
    assert bad.exit_code == 2 and "--market" in bad.output


def test_bad_document(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"region": "north", "orders": []}))
    out = runner.invoke(main, ["market", "clear", "--file", str(path)])
    assert out.exit_code == 4  # OrderError
    assert "slot_start_s" in out.output


def test_document_refuses_foreign_orders() -> None:
    doc = document()
    foreign = SlotOrders("north", SLOT + 900, doc.orders, doc.company_offers)
    with pytest.raises(OrderError, match="not the document's"):
        foreign.validate(DOMAIN)
    assert SlotOrders.from_dict(doc.to_dict()) == doc
