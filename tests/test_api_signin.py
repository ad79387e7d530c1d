"""Sign-In with Ethereum over the API: the flow, and each forgery refused with a 4xx and no
state change (the nonce stays usable for the genuine message)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serve_platform import TestClient, make_platform, siwe_signature

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # web3's websockets.legacy import
    from siwe import SiweMessage

from gridledger.api.app import create_app
from gridledger.api.session import COOKIE
from gridledger.identity import Signer
from gridledger.service.platform import Platform


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, TestClient]]:
    tmp: Path = tmp_path_factory.mktemp("signin")
    platform, _ = make_platform(tmp, households=2, telemetry_url=f"memory://{tmp.name}")
    with TestClient(create_app(platform)) as client:
        yield platform, client
    platform.stop()


def _message(platform: Platform, signer: Signer, fresh: str, **changes: object) -> str:
    issued = datetime.now(UTC)
    fields: dict[str, object] = {
        "domain": platform.signin.domain, "address": signer.address,
        "statement": "Sign in to gridledger.", "uri": platform.signin.uri, "version": "1",
        "chain_id": platform.chain_id, "nonce": fresh,
        "issued_at": issued.isoformat().replace("+00:00", "Z"),
        "expiration_time": (issued + timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    fields.update(changes)
    return str(SiweMessage(**fields).prepare_message())


def _login(client: TestClient, message: str, signature: str) -> int:
    response = client.post("/api/v1/auth/login", json={"message": message, "signature": signature})
    return int(response.status_code)


def test_sign_in_gives_cookie_and_bearer_session(served: tuple[Platform, TestClient]) -> None:
    platform, client = served
    owner = platform.neighbourhoods["central"].sites[0].owner
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    message = _message(platform, owner, nonce)
    response = client.post(
        "/api/v1/auth/login", json={"message": message, "signature": siwe_signature(owner, message)}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["address"] == owner.address and body["roles"] == ["household"]
    assert "httponly" in response.headers["set-cookie"].lower()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["sites"] == ["central-0000"]
    assert client.cookies.get(COOKIE) == body["token"]  # the HttpOnly cookie alone signs in
    assert client.get("/api/v1/me").status_code == 200
    client.cookies.clear()
    assert (
        client.post(
            "/api/v1/auth/logout", headers={"Authorization": f"Bearer {body['token']}"}
        ).status_code
        == 204
    )
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"domain": "evil.example"}, 401),
        ({"chain_id": 1}, 401),
        ({"expiration_time": "2020-01-01T00:00:00Z", "issued_at": "2019-12-31T23:00:00Z"}, 401),
        ({"expiration_time": "2099-01-01T00:00:00Z"}, 401),  # valid far too long
        ({"not_before": "2099-01-01T00:00:00Z"}, 401),
        ({"nonce": "neverissued123"}, 409),
    ],
)
def test_forged_sign_ins_are_refused_and_the_nonce_survives(
    served: tuple[Platform, TestClient], changes: dict[str, object], status: int
) -> None:
    platform, client = served
    owner = platform.neighbourhoods["central"].sites[1].owner
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    forged = _message(platform, owner, nonce, **changes)
    assert _login(client, forged, siwe_signature(owner, forged)) == status
    # nothing changed: the genuine message with the same nonce still signs in
    genuine = _message(platform, owner, nonce)
    assert _login(client, genuine, siwe_signature(owner, genuine)) == 200


def test_reused_nonce_and_other_key_are_refused(served: tuple[Platform, TestClient]) -> None:
    platform, client = served
    owner = platform.neighbourhoods["central"].sites[0].owner
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    message = _message(platform, owner, nonce)
    other = Signer.generate()
    assert _login(client, message, siwe_signature(other, message)) == 401
    assert _login(client, message, siwe_signature(owner, message)) == 200
    assert _login(client, message, siwe_signature(owner, message)) == 409  # replayed


def test_expired_nonce_is_refused(served: tuple[Platform, TestClient]) -> None:
    platform, client = served
    owner = platform.neighbourhoods["central"].sites[0].owner
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    message = _message(platform, owner, nonce)
    real_clock = platform.signin._clock
    platform.signin._clock = lambda: real_clock() + timedelta(minutes=6)
    try:
        assert _login(client, message, siwe_signature(owner, message)) == 401
    finally:
        platform.signin._clock = real_clock


def test_problem_json_on_errors(served: tuple[Platform, TestClient]) -> None:
    _, client = served
    client.cookies.clear()
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and body["type"].startswith("https://gridledger.dev/problems/")
    assert "sign in" in body["detail"]


def test_demo_sign_in_uses_the_servers_keystore(served: tuple[Platform, TestClient]) -> None:
    from gridledger.identity import Keystore
    from gridledger.service.demo import DEMO_PASSPHRASE

    platform, client = served
    keystore = Keystore(platform.cfg.keystore_path)
    assert {"demo-admin", "demo-operator", "demo-company-central", "demo-central-0000"} <= set(
        keystore.names()
    )
    owner = platform.neighbourhoods["central"].sites[0].owner
    assert keystore.load("demo-central-0000", DEMO_PASSPHRASE).address == owner.address
    client.cookies.clear()
    body = client.post("/api/v1/auth/demo", json={"site_id": "central-0000"}).json()
    assert body["address"] == owner.address and body["sites"] == ["central-0000"]
    operator = client.post("/api/v1/auth/demo", json={"role": "operator"}).json()
    assert operator["roles"] == ["operator"] and operator["operator_regions"] == ["central"]
    assert client.post("/api/v1/auth/demo", json={"site_id": "nope"}).status_code == 404
    client.cookies.clear()


def test_a_session_survives_a_restart_of_the_service(tmp_path: Path) -> None:
    platform, _ = make_platform(tmp_path, households=2, telemetry_url=f"memory://{tmp_path.name}")
    with TestClient(create_app(platform)) as client:
        site = next(iter(platform.neighbourhoods["central"].owners))
        token = client.post("/api/v1/auth/demo", json={"site_id": site}).json()["token"]
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    platform.stop()
    again, _ = make_platform(tmp_path, households=2, telemetry_url=f"memory://{tmp_path.name}")
    try:
        with TestClient(create_app(again)) as client:
            auth = {"Authorization": f"Bearer {token}"}
            after = client.get("/api/v1/me", headers=auth)
            assert after.status_code == 200, after.text
            assert after.json()["address"] == me["address"] and after.json()["sites"] == [site]
            assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
            assert client.get("/api/v1/me", headers=auth).status_code == 401
    finally:
        again.stop()
