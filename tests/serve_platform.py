"""Helpers of the serve/API tests: a platform on a manual clock in a temporary data dir."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct

from gridledger.config import load_config
from gridledger.identity import Signer, address_bytes
from gridledger.service.clock import ManualClock
from gridledger.service.events import Event, Subscription
from gridledger.service.options import ServeOptions
from gridledger.service.platform import Platform

with warnings.catch_warnings():
    # starlette asks for httpx2 (not installed here); its test client works on httpx as is
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient as TestClient


class BusReader:
    """The monitor stream's event bus (the events ``accept`` lets through), read in the test's
    own event loop."""

    def __init__(self, platform: Platform, accept: Callable[[Event], bool]) -> None:
        self.loop = asyncio.new_event_loop()

        async def subscribe() -> Subscription:
            return platform.bus.subscribe(accept)

        self.sub = self.loop.run_until_complete(subscribe())
        self.seen: list[Event] = []

    def drain(self) -> list[Event]:
        """Every event received so far."""
        self.loop.run_until_complete(asyncio.sleep(0))
        while not self.sub.queue.empty():
            self.seen.append(self.sub.queue.get_nowait())
        return self.seen

    def close(self) -> None:
        self.loop.close()


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
    ledger_url: str = "embedded",
    feeder_kva: float | None = None,
) -> tuple[Platform, ManualClock]:
    env = {
        "GRIDLEDGER_DATA_DIR": str(data_dir),
        "GRIDLEDGER_TELEMETRY_URL": telemetry_url,
        "GRIDLEDGER_LEDGER_URL": ledger_url,
    }
    if store_url:
        env["GRIDLEDGER_STORE_URL"] = store_url
    cfg = load_config(environ=env)
    clock = clock or ManualClock(start)
    platform = Platform(
        cfg, ServeOptions(households=households, regions=regions, feeder_kva=feeder_kva), clock
    )
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


class World:
    """A served platform with trades settled, tokens of every role, and household A's things.

    ``a`` is a household with at least one settled trade, ``b`` another household, ``outsider``
    an account with no site. Tokens: ``tokens[role]`` for a, b, outsider, company, operator,
    admin.
    """

    def __init__(self, data_dir: Path, households: int = 6, minutes: int = 40) -> None:
        from gridledger.api.app import create_app

        self.platform, self.clock = make_platform(
            data_dir, households=households, telemetry_url=f"memory://{data_dir.name}"
        )
        run_minutes(self.platform, self.clock, minutes)
        self.client = TestClient(create_app(self.platform))
        q = self.platform.queries
        service = self.platform.regions["central"]
        company = service.company
        assert company is not None
        hood = self.platform.neighbourhoods["central"]
        owners = {s.owner.address_bytes: s for s in hood.sites}
        trade = next(
            t
            for t in q.trades("central")
            if address_bytes(t.trade.buyer) in owners or address_bytes(t.trade.seller) in owners
        )
        buyer = address_bytes(trade.trade.buyer)
        a_raw = buyer if buyer in owners else address_bytes(trade.trade.seller)
        self.trade = trade
        self.a_site = owners[a_raw]
        self.b_site = next(s for s in hood.sites if s.owner.address_bytes != a_raw)
        self.a = self.a_site.owner
        self.b = self.b_site.owner
        self.company = company
        self.outsider = Signer.generate()
        self.tokens = {
            "a": login(self.client, self.platform, self.a),
            "b": login(self.client, self.platform, self.b),
            "outsider": login(self.client, self.platform, self.outsider),
            "company": login(self.client, self.platform, company),
            "operator": login(self.client, self.platform, self.platform.operator_key),
            "admin": login(self.client, self.platform, self.platform.admin),
        }
        self.client.cookies.clear()
        # A's home controller may hold an order of one side in the open slot already: a second
        # order takes the same side (one side per owner and slot, so nobody trades with itself)
        for side, price in (("bid", 250_000), ("ask", 90_000)):
            placed = self.client.post(
                "/api/v1/orders",
                json={"side": side, "energy_wh": 250, "price_micro_per_kwh": price},
                headers=bearer(self.tokens["a"]),
            )
            if "one side per slot" not in placed.text:
                break
        assert placed.status_code == 201, placed.text
        self.a_order = placed.json()["order_id"]
        sent = self.client.post(
            f"/api/v1/sites/{self.a_site.site_id}/battery/commands",
            json={"setting": "reserve_soc_permille", "value": 200},
            headers=bearer(self.tokens["a"]),
        )
        assert sent.status_code == 202, sent.text
        self.a_command = sent.json()["id"]
        # demand response: an import-limit event aimed at A, and A's VEN's report on it
        from gridledger.operator.openadr import IntervalPeriod, Report, limit_event
        from gridledger.service.vtn import default_program_id

        vtn = self.platform.vtn
        assert vtn is not None
        window = IntervalPeriod(service.open_slot().next(4).start, 900)
        program = default_program_id("central")
        posted = self.client.post(
            "/openadr3/3.0.1/events",
            json=limit_event("", program, window, 400, [self.a_site.site_id]).to_json(),
            headers=bearer(self.tokens["operator"]),
        )
        assert posted.status_code == 201, posted.text
        self.a_event = posted.json()["id"]
        self.a_report = vtn.record_report(
            Report("", program, self.a_event, self.a_site.site_id, window, (300,), (120,))
        ).id
        self.a_fault = self.plant_fault()

    def plant_fault(self) -> str:
        """An open fault of A's PV, as the live detectors store one; its id."""
        from gridledger.monitor import Fault, FaultKind, Severity, fault_row
        from gridledger.service.plant_faults import fault_id

        now = self.clock.now()
        site = self.a_site.site_id
        fault = Fault(
            site, f"{site}-pv", FaultKind.OUTAGE, Severity.MAJOR, now, now, now,
            {"measured_w": 0.0}, "Your PV produces nothing: check the inverter.",
        )  # fmt: skip
        assert self.platform.store is not None
        self.platform.store.save_faults([fault_row(fault)])
        return fault_id(fault)

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else bearer(self.tokens[role])

    def close(self) -> None:
        self.client.close()
        self.platform.stop()
