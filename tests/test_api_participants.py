"""Real participants beside the simulated neighbourhood: the operator registers a household and
its meter; the meter publishes signed readings over the transport; the household signs in with
its own key (EIP-4361), sees its site, and places an order signed in its wallet (EIP-712)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_platform import TestClient, bearer, login, make_platform, run_minutes

from gridledger.api.app import create_app
from gridledger.devices.messages import DeviceKind
from gridledger.devices.messages import Reading as WireReading
from gridledger.devices.topics import topic
from gridledger.identity import ORDER, Signer
from gridledger.market import Order, Side
from gridledger.service.platform import Platform
from gridledger.telemetry import open_transport


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Platform, TestClient, str]]:
    url = f"memory://{tmp_path.name}"
    platform, clock = make_platform(tmp_path, households=5, telemetry_url=url)
    run_minutes(platform, clock, 2)
    with TestClient(create_app(platform)) as client:
        yield platform, client, url
    platform.stop()


def test_registered_household_reports_and_trades(served: tuple[Platform, TestClient, str]) -> None:
    platform, client, url = served
    operator = login(client, platform, platform.operator_key)
    household, meter = Signer.generate(), Signer.generate()
    r = client.post(
        "/api/v1/regions/central/households",
        json={"address": household.address, "site_id": "home-1"},
        headers=bearer(operator),
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/regions/central/sites/home-1/devices",
        json={"device_id": "home-1-bec", "kind": "bec", "address": meter.address},
        headers=bearer(operator),
    )
    assert r.status_code == 201, r.text
    # the meter speaks the wire format over the transport, as a real device would
    device = open_transport(url, "home-1-bec")
    now_ms = platform.clock.now_ms()
    for seq, (imp, exp) in enumerate(((100, 0), (180, 5)), 1):
        payload = WireReading(
            "central",
            meter.address_bytes,
            seq,
            now_ms - 60_000 + seq * 1000,
            DeviceKind.BEC,
            imp,
            exp,
            -800,
        ).sign(meter, platform.reading_domain)
        device.publish(topic("central", "home-1", "home-1-bec", "readings"), payload)
    device.flush()
    device.close()
    while platform.ingest_pending(0.2):
        pass
    token = login(client, platform, household)
    client.cookies.clear()
    me = client.get("/api/v1/me", headers=bearer(token)).json()
    assert me["sites"] == ["home-1"] and me["roles"] == ["household"]
    live = client.get("/api/v1/sites/home-1/live", headers=bearer(token)).json()
    assert live["grid_w"] == 800 and live["today"]["grid_import_wh"] == 80
    # an order signed in the household's wallet (typed data from /orders/prepare)
    prepared = client.post(
        "/api/v1/orders/prepare",
        json={"side": "bid", "energy_wh": 200, "price_micro_per_kwh": 250_000},
        headers=bearer(token),
    ).json()
    fields = prepared["order"]
    typed = prepared["typed_data"]
    assert typed["primaryType"] == "Order" and typed["message"]["nonce"] == fields["nonce"]
    service = platform.regions["central"]
    unsigned = Order(
        region="central",
        slot_start_s=fields["slot_start_s"],
        side=Side.BID,
        energy_wh=200,
        price_micro_per_kwh=250_000,
        owner=household.address,
        nonce=fields["nonce"],
    )
    signature = service.operator.domain.sign(household, ORDER, unsigned.message)
    signed = unsigned.with_signature(signature).to_dict()
    placed = client.post("/api/v1/orders", json={"signed": signed}, headers=bearer(token))
    assert placed.status_code == 201, placed.text
    listed = client.get("/api/v1/orders", headers=bearer(token)).json()["items"]
    assert [o["order_id"] for o in listed] == [placed.json()["order_id"]]


def test_a_household_without_a_meter_cannot_trade(
    served: tuple[Platform, TestClient, str],
) -> None:
    platform, client, _ = served
    operator = login(client, platform, platform.operator_key)
    household = Signer.generate()
    r = client.post(
        "/api/v1/regions/central/households",
        json={"address": household.address, "site_id": "home-2"},
        headers=bearer(operator),
    )
    assert r.status_code == 201, r.text
    token = login(client, platform, household)
    client.cookies.clear()
    service = platform.regions["central"]
    unsigned = Order(
        region="central",
        slot_start_s=service.open_slot().start_s,
        side=Side.ASK,
        energy_wh=100,
        price_micro_per_kwh=100_000,
        owner=household.address,
        nonce=1,
    )
    signed = unsigned.with_signature(
        service.operator.domain.sign(household, ORDER, unsigned.message)
    )
    refused = client.post(
        "/api/v1/orders", json={"signed": signed.to_dict()}, headers=bearer(token)
    )
    assert refused.status_code == 403 and "no meter" in refused.json()["detail"]
    assert signed.order_id not in service.orders
