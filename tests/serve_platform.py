"""Helpers of the serve/API tests: a platform on a manual clock in a temporary data dir."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct

from gridledger.config import load_config
from gridledger.identity import Signer
from gridledger.service.clock import ManualClock
from gridledger.service.platform import Platform, ServeOptions

with warnings.catch_warnings():
    # starlette asks for httpx2 (not installed here); its test client works on httpx as is
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

#: A summer morning: PV produces, so households sell and buy.
MORNING = datetime(2026, 6, 21, 9, 50, tzinfo=UTC)


def make_platform(
    data_dir: Path,
    *,
    households: int = 6,
    regions: tuple[str, ...] = ("central",),
    start: datetime = MORNING,
    clock: ManualClock | None = None,
    telemetry_url: str = "memory://",
    store_url: str = "",
) -> tuple[Platform, ManualClock]:
    env = {"GRIDLEDGER_DATA_DIR": str(data_dir), "GRIDLEDGER_TELEMETRY_URL": telemetry_url}
    if store_url:
        env["GRIDLEDGER_STORE_URL"] = store_url
    cfg = load_config(environ=env)
    clock = clock or ManualClock(start)
    platform = Platform(cfg, ServeOptions(households=households, regions=regions), clock)
    platform.open()
    return platform, clock


def run_minutes(platform: Platform, clock: ManualClock, minutes: int) -> None:
    """Advance the clock one minute at a time, stepping everything after each."""
    for _ in range(minutes):
        clock.advance(60)
        platform.run_once()
        while platform.ingest_pending(0.0):
            pass


def siwe_signature(signer: Signer, message: str) -> str:
    signed = Account.sign_message(encode_defunct(text=message), signer.private_key)
    return "0x" + bytes(signed.signature).hex()


def login(client: TestClient, platform: Platform, signer: Signer) -> str:
    """Sign ``signer`` in through the real EIP-4361 flow; return the bearer token."""
    assert isinstance(client, TestClient)
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    message = platform.signin.message_for(signer.address, nonce)
    response = client.post(
        "/api/v1/auth/login",
        json={"message": message, "signature": siwe_signature(signer, message)},
    )
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    assert isinstance(token, str)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
