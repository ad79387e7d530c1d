"""Battery settings through the API: the modes the field names and the price thresholds are
validated (problem+json on bad values), a command prepared for the wallet and signed there is
applied, one signed by another key is refused, the sale company is chosen among the region's
companies, and ``/me`` says who signs a session's orders and commands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from serve_platform import World, bearer, run_minutes

from gridledger.devices.models import AccumulatorMode
from gridledger.identity import Signer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("battery-api"))
    yield w
    w.close()


def _commands(world: World, site: str) -> str:
    return f"/api/v1/sites/{site}/battery/commands"


def _acc(world: World) -> Any:
    acc = world.platform.neighbourhoods["central"].accumulator(world.a_site.site_id)
    assert acc is not None
    return acc


def _applied(world: World, command_id: str) -> dict[str, Any]:
    """Step the platform until the accumulator acknowledged ``command_id``; its record."""
    site = world.a_site.site_id
    for _ in range(5):
        run_minutes(world.platform, world.clock, 1)
        items = world.client.get(
            _commands(world, site), headers=world.headers("a"), params={"limit": 500}
        ).json()["items"]
        record = next(c for c in items if c["id"] == command_id)
        if record["status"] != "pending":
            return dict(record)
    pytest.fail(f"command {command_id} still pending")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("mode", "turbo"),
        ("mode", "auto"),  # the device's name, not the app's
        ("mode", 99),
        ("price_low_micro_per_kwh", -1),
        ("price_high_micro_per_kwh", 10**12),
        ("price_low_micro_per_kwh", "cheap"),
        ("reserve_soc_permille", 1001),
        ("sale_company", 1),
    ],
)
def test_bad_settings_are_refused_as_problem_json(
    world: World, setting: str, value: object
) -> None:
    site = world.a_site.site_id
    before = world.platform.commands.next_nonce(_acc(world).device_id)
    for path in (_commands(world, site), _commands(world, site) + "/prepare"):
        r = world.client.post(
            path, json={"setting": setting, "value": value}, headers=world.headers("a")
        )
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"]
    assert world.platform.commands.next_nonce(_acc(world).device_id) == before


@pytest.mark.parametrize(
    ("mode", "device_mode"),
    [
        ("backup_reserve", AccumulatorMode.BACKUP_RESERVE),
        ("price_based", AccumulatorMode.PRICE_BASED),
        ("sell_to_company", AccumulatorMode.SELL_TO_COMPANY),
        ("self_consumption", AccumulatorMode.AUTO),
    ],
)
def test_each_mode_reaches_the_accumulator(
    world: World, mode: str, device_mode: AccumulatorMode
) -> None:
    site = world.a_site.site_id
    sent = world.client.post(
        _commands(world, site), json={"setting": "mode", "value": mode}, headers=world.headers("a")
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] in ("pending", "applied")  # in-process transport: at once
    assert _applied(world, sent.json()["id"])["status"] == "applied"
    assert _acc(world).mode is device_mode
    battery = world.client.get(f"/api/v1/sites/{site}/battery", headers=world.headers("a")).json()
    assert battery["mode"] == mode


def test_price_thresholds_are_settings(world: World) -> None:
    site = world.a_site.site_id
    for setting, value in (("price_low_micro_per_kwh", 70_000), ("price_high_micro_per_kwh", 0)):
        sent = world.client.post(
            _commands(world, site),
            json={"setting": setting, "value": value},
            headers=world.headers("a"),
        )
        assert sent.status_code == 202, sent.text
        assert _applied(world, sent.json()["id"])["status"] == "applied"
    battery = world.client.get(f"/api/v1/sites/{site}/battery", headers=world.headers("a")).json()
    assert (battery["price_low_micro_per_kwh"], battery["price_high_micro_per_kwh"]) == (70_000, 0)


def _wallet_sign(prepared: dict[str, Any], signer: Signer) -> str:
    signable = encode_typed_data(full_message=prepared["typed_data"])
    signature = Account.sign_message(signable, signer.private_key).signature
    return str(prepared["body"]) + bytes(signature).hex()


def test_a_command_prepared_for_the_wallet_and_signed_there_is_applied(world: World) -> None:
    site = world.a_site.site_id
    prepared = world.client.post(
        _commands(world, site) + "/prepare",
        json={"setting": "reserve_soc_permille", "value": 450},
        headers=world.headers("a"),
    )
    assert prepared.status_code == 200, prepared.text
    data = prepared.json()
    assert data["typed_data"]["primaryType"] == "Command"
    assert data["typed_data"]["message"]["nonce"] == data["nonce"]
    assert data["typed_data"]["message"]["owner"].lower() == world.a.address.lower()
    # signed by another key (the wallet holds the wrong one): refused, nothing sent
    forged = world.client.post(
        _commands(world, site),
        json={"payload": _wallet_sign(data, world.b)},
        headers=world.headers("a"),
    )
    assert forged.status_code == 422 and "not the site owner" in forged.json()["detail"]
    # signed by the owner in a wallet (eth_account's EIP-712, not the server's code): applied
    sent = world.client.post(
        _commands(world, site),
        json={"payload": _wallet_sign(data, world.a)},
        headers=world.headers("a"),
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["nonce"] == data["nonce"]
    assert _applied(world, sent.json()["id"])["status"] == "applied"
    assert _acc(world).reserve_soc_permille == 450
    # another household cannot even prepare one for this site
    other = world.client.post(
        _commands(world, site) + "/prepare",
        json={"setting": "mode", "value": "hold"},
        headers=world.headers("b"),
    )
    assert other.status_code == 404


def test_the_sale_company_is_one_of_the_regions_companies(world: World) -> None:
    site = world.a_site.site_id
    path = f"/api/v1/sites/{site}/battery/sale-company"
    company = world.company.address
    chosen = world.client.put(path, json={"company": company}, headers=world.headers("a"))
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["sale_company"] == company
    assert world.platform.commands.sale_companies()[site] == company
    stranger = world.client.put(
        path, json={"company": Signer.generate().address}, headers=world.headers("a")
    )
    assert stranger.status_code == 404
    assert stranger.headers["content-type"] == "application/problem+json"
    assert "not a registered energy company" in stranger.json()["detail"]
    assert (
        world.client.put(path, json={"company": company}, headers=world.headers("b")).status_code
        == 404
    )
    assert world.platform.commands.sale_companies()[site] == company
    cleared = world.client.put(path, json={"company": None}, headers=world.headers("a"))
    assert cleared.json()["sale_company"] is None


def test_me_says_who_signs(world: World) -> None:
    wallet = world.client.get("/api/v1/me", headers=world.headers("a")).json()
    assert wallet["signs_with"] == "wallet"
    demo = world.client.post("/api/v1/auth/demo", json={"site_id": world.a_site.site_id}).json()
    assert demo["signs_with"] == "server"
    world.client.cookies.clear()
    me = world.client.get("/api/v1/me", headers=bearer(demo["token"])).json()
    assert me["signs_with"] == "server" and me["address"] == world.a.address
