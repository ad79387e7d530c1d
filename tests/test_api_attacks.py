"""Attacks on the API, each refused with a clear 4xx and no state change: a replayed signed
order, an order signed by another key, a battery command replayed or signed by a non-owner, and
a region aggregate under five households. (Sign-in forgeries: test_api_signin.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_platform import TestClient, World, bearer, login, make_platform, run_minutes

from gridledger.api.app import create_app
from gridledger.devices.messages import Action, Command
from gridledger.identity import ORDER, Signer
from gridledger.market import Order, Side


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("attacks"))
    yield w
    w.close()


def _signed(world: World, signer: Signer, owner: str, nonce: int) -> dict[str, object]:
    service = world.platform.regions["central"]
    unsigned = Order(
        region="central", slot_start_s=service.open_slot().start_s, side=Side.ASK,
        energy_wh=111, price_micro_per_kwh=120_000, owner=owner, nonce=nonce,
    )  # fmt: skip
    order = unsigned.with_signature(service.operator.domain.sign(signer, ORDER, unsigned.message))
    return order.to_dict()


def _book(world: World) -> set[bytes]:
    service = world.platform.regions["central"]
    return {o.order_id for o in service.market.book(service.open_slot()).orders()}


def test_replayed_signed_order_is_refused(world: World) -> None:
    service = world.platform.regions["central"]
    signed = _signed(world, world.a, world.a.address, service.next_nonce(world.a.address_bytes))
    first = world.client.post("/api/v1/orders", json={"signed": signed}, headers=world.headers("a"))
    assert first.status_code == 201, first.text
    before, journal = _book(world), world.platform.data_dir / "serve-orders-central.jsonl"
    size = journal.stat().st_size
    again = world.client.post("/api/v1/orders", json={"signed": signed}, headers=world.headers("a"))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert _book(world) == before and journal.stat().st_size == size


def test_order_signed_by_another_key_is_refused(world: World) -> None:
    nonce = world.platform.regions["central"].next_nonce(world.a.address_bytes)
    forged = _signed(world, world.b, world.a.address, nonce)  # names A, signed by B
    before = _book(world)
    as_a = world.client.post("/api/v1/orders", json={"signed": forged}, headers=world.headers("a"))
    assert as_a.status_code == 422 and "sign" in as_a.json()["detail"].lower()
    as_b = world.client.post("/api/v1/orders", json={"signed": forged}, headers=world.headers("b"))
    assert as_b.status_code == 403
    assert _book(world) == before


def test_battery_command_replay_and_non_owner_are_refused(world: World) -> None:
    platform = world.platform
    site = world.a_site.site_id
    device = next(d for d in platform.queries.devices(site) if d.kind == "accumulator")
    nonce = platform.commands.next_nonce(device.device_id)
    payload = Command(
        "central", bytes(device.address), world.a.address_bytes, nonce, Action.SET_RESERVE_SOC,
        300, platform.clock.now_ms() // 1000 + 600,
    ).sign(world.a, platform.reading_domain)  # fmt: skip
    url = f"/api/v1/sites/{site}/battery/commands"
    ok = world.client.post(url, json={"payload": "0x" + payload.hex()}, headers=world.headers("a"))
    assert ok.status_code == 202, ok.text
    count = len(platform.commands.of_site(site))
    replay = world.client.post(
        url, json={"payload": "0x" + payload.hex()}, headers=world.headers("a")
    )
    assert replay.status_code == 409
    by_b = Command(
        "central", bytes(device.address), world.a.address_bytes, nonce + 5,
        Action.SET_RESERVE_SOC, 900, 0,
    ).sign(world.b, platform.reading_domain)  # fmt: skip
    forged = world.client.post(url, json={"payload": "0x" + by_b.hex()}, headers=world.headers("a"))
    assert forged.status_code == 422 and "not the site owner" in forged.json()["detail"]
    other = world.client.post(url, json={"payload": "0x" + by_b.hex()}, headers=world.headers("b"))
    assert other.status_code == 404
    assert len(platform.commands.of_site(site)) == count


def test_command_applied_by_the_accumulator(world: World) -> None:
    run_minutes(world.platform, world.clock, 1)
    url = f"/api/v1/sites/{world.a_site.site_id}/battery/commands"
    items = world.client.get(url, headers=world.headers("a")).json()["items"]
    first = next(c for c in items if c["id"] == world.a_command)
    assert first["status"] == "applied"
    battery = world.client.get(
        f"/api/v1/sites/{world.a_site.site_id}/battery", headers=world.headers("a")
    ).json()
    assert battery["reserve_soc_permille"] == 300  # the later signed command applied too


def test_aggregate_under_five_households_is_refused(tmp_path: Path) -> None:
    platform, clock = make_platform(tmp_path, households=4, telemetry_url=f"memory://{tmp_path}")
    try:
        run_minutes(platform, clock, 3)
        with TestClient(create_app(platform)) as client:
            token = login(client, platform, platform.operator_key)
            client.cookies.clear()
            for path in ("/api/v1/regions/central/energy", "/api/v1/regions/central/market"):
                r = client.get(path, headers=bearer(token))
                assert r.status_code == 403, r.text
                assert r.json()["type"].endswith("aggregate-too-small")
    finally:
        platform.stop()
