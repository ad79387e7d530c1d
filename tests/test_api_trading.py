"""Trading, archive and operator flows over the API: cancel, sell to a company, fills with their
settling transaction, the archive's filters, totals, CSV and Merkle proofs (checked offline
here too), company offers, and a tariff set for future slots reaching the chain."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from serve_platform import World, run_minutes

from gridledger.ledger import merkle


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("trading"))
    yield w
    w.close()


def test_fills_archive_totals_csv_and_proof(world: World) -> None:
    c, h = world.client, world.headers("a")
    fills = c.get("/api/v1/fills?limit=500", headers=h).json()["items"]
    assert fills and all(f["tx_hashes"] for f in fills)
    rows = c.get("/api/v1/archive?limit=500", headers=h).json()["items"]
    trades = [r for r in rows if r["kind"] in ("sale", "purchase")]
    assert len(trades) == len(fills)
    assert {(r["slot_start_s"], r["index"]) for r in trades} == {
        (f["slot_start_s"], f["index"]) for f in fills
    }
    # filters
    sales = c.get("/api/v1/archive?kind=sale&limit=500", headers=h).json()["items"]
    assert sales == [r for r in rows if r["kind"] == "sale"]
    first = min(r["slot_start"] for r in rows)
    later = c.get(f"/api/v1/archive?start={first.replace('+00:00', 'Z')}", headers=h)
    assert later.status_code == 200
    naive = c.get("/api/v1/archive?start=2026-06-21T09:00:00", headers=h)
    assert naive.status_code == 422
    # totals by day add up to the rows
    totals = c.get("/api/v1/archive/totals?by=day", headers=h).json()
    assert sum(t["sold_wh"] for t in totals) == sum(r["energy_wh"] for r in sales)
    assert sum(t["received_micro"] - t["paid_micro"] for t in totals) == sum(
        r["amount_micro"] for r in rows
    )
    # the CSV has the same rows as the API
    text = c.get("/api/v1/archive/export.csv", headers=h).text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [(int(r["slot_start_s"]), r["kind"], int(r["amount_micro"])) for r in parsed] == [
        (r["slot_start_s"], r["kind"], r["amount_micro"]) for r in rows
    ]
    # every trade's proof verifies against the root the chain holds, offline too
    for f in fills:
        p = c.get(
            f"/api/v1/archive/trades/{f['region']}/{f['slot_start_s']}/{f['index']}/proof",
            headers=h,
        ).json()
        assert p["verified"] is True
        leaf = bytes.fromhex(p["leaf"][2:])
        proof = [bytes.fromhex(x[2:]) for x in p["proof"]]
        assert merkle.process_proof(leaf, proof).hex() == p["trades_root"][2:]
        chain_root = world.platform.regions["central"].operator.market.slot(p["slot_start_s"])
        assert chain_root.trades_root.hex() == p["trades_root"][2:]
        assert p["tx_hash"] in f["tx_hashes"]


def test_cancel_an_open_order(world: World) -> None:
    c, h = world.client, world.headers("b")
    placed = c.post(
        "/api/v1/orders",
        json={"side": "bid", "energy_wh": 50, "price_micro_per_kwh": 200_000},
        headers=h,
    ).json()
    service = world.platform.regions["central"]
    book = service.market.book(service.open_slot())
    assert bytes.fromhex(placed["order_id"][2:]) in {o.order_id for o in book.orders()}
    cancelled = c.post(f"/api/v1/orders/{placed['order_id']}/cancel", json={}, headers=h)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert bytes.fromhex(placed["order_id"][2:]) not in {o.order_id for o in book.orders()}
    again = c.post(f"/api/v1/orders/{placed['order_id']}/cancel", json={}, headers=h)
    assert again.status_code in (404, 422)


def test_sell_to_company_fills_and_settles(world: World) -> None:
    c, h = world.client, world.headers("b")
    companies = c.get("/api/v1/regions/central/companies", headers=h).json()
    company = companies[0]
    assert company["offer"] is not None
    sold = c.post(
        "/api/v1/orders/sell-to-company",
        json={"company": company["address"], "energy_wh": 300},
        headers=h,
    )
    assert sold.status_code == 201, sold.text
    order = sold.json()
    assert order["target"] == company["address"]
    assert order["price_micro_per_kwh"] == company["offer"]["net_price_micro_per_kwh"]
    run_minutes(world.platform, world.clock, 16)
    mine = {o["order_id"]: o for o in c.get("/api/v1/orders", headers=h).json()["items"]}
    assert mine[order["order_id"]]["status"] in ("filled", "partial")
    bought = c.get("/api/v1/company/purchases", headers=world.headers("company")).json()
    assert any(
        f["slot_start_s"] == order["slot_start_s"] and f["counterparty"] == "household"
        for f in bought["items"]
    )


def test_company_posts_and_withdraws_an_offer(world: World) -> None:
    c, h = world.client, world.headers("company")
    service = world.platform.regions["central"]
    slot = service.open_slot().next(3).start_s
    posted = c.post(
        "/api/v1/company/offers",
        json={"slot_start_s": slot, "energy_wh": 2000, "price_micro_per_kwh": 150_000},
        headers=h,
    )
    assert posted.status_code == 201, posted.text
    assert any(o["slot_start_s"] == slot for o in c.get("/api/v1/company/offers", headers=h).json())
    assert c.delete(f"/api/v1/company/offers/{slot}", headers=h).status_code == 204
    assert service.market.companies.offer(world.company.address, slot) is None
    assert c.delete(f"/api/v1/company/offers/{slot}", headers=h).status_code == 404


def test_tariff_for_future_slots_reaches_the_chain(world: World) -> None:
    c, h = world.client, world.headers("operator")
    service = world.platform.regions["central"]
    now_open = service.open_slot().start_s
    refused = c.put(
        "/api/v1/regions/central/tariff",
        json={
            "from_slot_start_s": now_open,
            "retail_price_micro_per_kwh": 310_000,
            "feed_in_price_micro_per_kwh": 70_000,
            "grid_fee_micro_per_kwh": 20_000,
        },
        headers=h,
    )
    assert refused.status_code == 409
    first = service.open_slot().next().start_s
    body = {
        "from_slot_start_s": first,
        "retail_price_micro_per_kwh": 310_000,
        "feed_in_price_micro_per_kwh": 70_000,
        "grid_fee_micro_per_kwh": 20_000,
    }
    assert c.put("/api/v1/regions/central/tariff", json=body, headers=h).status_code == 200
    status = c.get("/api/v1/regions/central/status", headers=h).json()
    assert status["tariffs"][-1]["from_slot_start_s"] == first
    run_minutes(world.platform, world.clock, 40)
    state = service.operator.market.slot(first)
    assert state.status >= 2  # traded: the slot opened on chain with the new prices
    assert (state.retail_micro_per_kwh, state.feed_in_micro_per_kwh) == (310_000, 70_000)
    assert service.operator.market.grid_prices() == (310_000, 70_000, 20_000)
