"""Orders and battery commands signed in a browser wallet, on the pages of a real
``gridledger serve --speed`` (Debian's Chromium through Playwright).

The wallet is an EIP-1193 provider injected into every page before it loads
(``add_init_script``): ``eth_requestAccounts``, ``eth_accounts``, ``eth_chainId``,
``personal_sign`` and ``eth_signTypedData_v4``, signing in the page with a real secp256k1 key
through the vendored ethers 6 (``static/vendor/ethers.umd.min.js``), as a wallet extension would.
Its key is a demo household's (read from the server's keystore: that household has a meter and an
accumulator), but the household signs in through the wallet path (EIP-4361), so the server signs
nothing for the session (``/me`` says ``signs_with: wallet``): the pages prepare the EIP-712 typed
data, the wallet signs it, and the server checks the signer is the household's key. A wallet
that signs with another key is refused, and the page shows why. The launch flags, the sign-in
helper and the axe and screenshot check are those of ``tests/test_web_pages.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_web_pages import CHROMIUM, CHROMIUM_ARGS, ROOT, Account, check_page, running_serve

from gridledger.identity import Signer
from gridledger.service.demo import DemoKeys

pytestmark = pytest.mark.browser

from playwright.sync_api import Browser, sync_playwright  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

ETHERS = ROOT / "src" / "gridledger" / "web" / "static" / "vendor" / "ethers.umd.min.js"
SPEED = "120"  # a 15-minute slot every 7.5 s
SITE = "central-0002"
OTHER_HEX = "0x" + "7c" * 32  # a key that owns nothing here
OTHER_KEY = Signer.from_hex(OTHER_HEX)

# The injected wallet; %(key)s and %(chain)s are filled in. __walletUseKey makes it sign with
# another key while still naming the account (a wallet whose key is not the account's).
WALLET_JS = """
(() => {
  const account = new ethers.Wallet(%(key)s);
  let signer = account;
  // the methods asked for, kept across the tab's page loads
  const called = (method) => sessionStorage.setItem("walletCalls",
    JSON.stringify([...JSON.parse(sessionStorage.getItem("walletCalls") || "[]"), method]));
  window.__walletUseKey = (key) => { signer = new ethers.Wallet(key); };
  const refuse = (code, message) => Object.assign(new Error(message), { code });
  const mine = (from) => {
    if (from.toLowerCase() !== account.address.toLowerCase()) throw refuse(4100, "not my account");
  };
  const text = (m) => (/^0x[0-9a-fA-F]*$/.test(m) ? ethers.getBytes(m) : m);
  window.ethereum = {
    isStandIn: true,
    async request({ method, params }) {
      called(method);
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [account.address.toLowerCase()];
        case "eth_chainId":
          return "0x" + (%(chain)d).toString(16);
        case "personal_sign": {
          const [message, from] = params;
          mine(from);
          return signer.signMessage(text(message));
        }
        case "eth_signTypedData_v4": {
          const [from, json] = params;
          mine(from);
          const data = typeof json === "string" ? JSON.parse(json) : json;
          if (Number(data.domain.chainId) !== %(chain)d) throw refuse(4901, "wrong chain");
          const types = { ...data.types };
          delete types.EIP712Domain; // ethers derives the domain's type from the domain itself
          return signer.signTypedData(data.domain, types, data.message);
        }
        default:
          throw refuse(4200, "unsupported method " + method);
      }
    },
  };
})();
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("web-wallet")
    options = ["--speed", SPEED, "--households", "5", "--start", "2026-06-21T09:00:00Z"]
    with running_serve(data, *options) as url:
        yield url, data


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def wallet(browser: Browser, served: tuple[str, Path]) -> Iterator[tuple[Account, Signer]]:
    """A browser context whose wallet holds the household's key, signed in through it."""
    url, data = served
    key = DemoKeys(data / "keys").load(f"demo-{SITE}")
    assert key is not None
    chain = httpx.get(url + "/api/v1/auth/nonce").json()["chain_id"]
    acc = Account(browser, url)
    acc.context.add_init_script(path=str(ETHERS))
    acc.context.add_init_script(
        WALLET_JS % {"key": json.dumps("0x" + key.private_key.hex()), "chain": chain}
    )
    acc.goto("/app/signin")
    assert acc.page.is_enabled("#wallet-signin")
    acc.page.click("#wallet-signin")
    acc.page.wait_for_url(f"**/app/sites/{SITE}/monitor")
    yield acc, key
    acc.context.close()


def _toast(acc: Account) -> tuple[bool, str]:
    """Wait for the page's message; (is it an error, its text)."""
    acc.page.wait_for_selector("#toast.show")
    return "error" in (acc.page.get_attribute("#toast", "class") or ""), acc.page.inner_text(
        "#toast"
    )


def _calls(acc: Account) -> list[str]:
    calls: list[str] = acc.page.evaluate("JSON.parse(sessionStorage.getItem('walletCalls'))")
    return calls


def _reported(acc: Account, condition: str, arg: Any = None) -> None:
    """Wait (20 s) until ``condition`` holds on the page; else fail with the commands' states."""
    try:
        acc.page.wait_for_function(condition, arg=arg, timeout=20_000)
    except PlaywrightTimeout:
        commands = acc.api(f"/sites/{SITE}/battery/commands")["items"]
        pytest.fail(f"not reported: {condition}; commands: {commands}; page: {acc.errors}")


def _orders(acc: Account) -> dict[str, Any]:
    return {o["order_id"]: o for o in acc.api("/orders?limit=100")["items"]}


def test_the_wallet_signs_in_and_the_server_signs_nothing(wallet: tuple[Account, Signer]) -> None:
    acc, key = wallet
    me = acc.api("/me")
    assert me["address"] == key.address and me["sites"] == [SITE]
    assert me["signs_with"] == "wallet"
    assert "personal_sign" in _calls(acc)
    # the demo path is not this session's: the page never asks the server to sign
    demo = httpx.post(
        acc.base + "/api/v1/auth/demo", json={"site_id": SITE}
    ).json()  # a demo session of the same household, for contrast
    assert demo["signs_with"] == "server"


def test_a_sell_order_signed_in_the_wallet_is_accepted_and_listed(
    wallet: tuple[Account, Signer],
) -> None:
    acc, _ = wallet
    acc.goto(f"/app/sites/{SITE}/trading")
    page = acc.page
    page.wait_for_selector("#order-slot option", state="attached")
    slot = page.eval_on_selector("#order-slot", "s => s.options[s.options.length - 1].value")
    page.select_option("#order-slot", slot)  # a later slot: its gate stays open meanwhile
    page.select_option("#side", "ask")
    page.fill("#order-kwh", "0.4")
    page.fill("#order-price", "0.12")
    before = len(_calls(acc))
    page.click("#order-form button[type=submit]")
    error, text = _toast(acc)
    assert not error, text
    assert "eth_signTypedData_v4" in _calls(acc)[before:]
    order = next(
        o
        for o in _orders(acc).values()
        if o["slot_start_s"] == int(slot) and o["energy_wh"] == 400 and o["side"] == "ask"
    )
    assert order["price_micro_per_kwh"] == 120_000 and order["status"] == "open"
    status = page.locator(f"#orders [data-order='{order['order_id']}']")
    status.wait_for()
    assert status.inner_text() == "open"
    # sell stored energy to a company: priced by its offer, signed in the wallet too
    page.wait_for_selector("#companies button.sell:not([disabled])")
    company = page.get_attribute("#companies button.sell", "data-company")
    page.fill("#sell-kwh", "0.2")
    page.click("#companies button.sell")
    error, text = _toast(acc)
    assert not error, text
    page.locator(f"#orders .order-status[data-target='{company}']").first.wait_for()
    sale = next(o for o in _orders(acc).values() if o["target"] == company)
    assert sale["side"] == "ask" and sale["energy_wh"] == 200
    # the first order cancelled with a cancel signed in the wallet
    row = page.locator("#orders tbody tr", has=page.locator(f"[data-order='{order['order_id']}']"))
    row.get_by_role("button", name="Cancel").click()
    page.wait_for_selector(f"#orders [data-order='{order['order_id']}']:text('cancelled')")
    assert _orders(acc)[order["order_id"]]["status"] == "cancelled"
    check_page(acc, "trading-wallet")


def test_battery_commands_signed_in_the_wallet_are_applied(wallet: tuple[Account, Signer]) -> None:
    acc, _ = wallet
    acc.goto(f"/app/sites/{SITE}/plant")
    page = acc.page
    page.wait_for_function("document.getElementById('rep-reserve').dataset.permille")
    before = int(page.get_attribute("#rep-reserve", "data-permille") or "0")
    page.focus("#reserve")
    page.keyboard.press("ArrowRight" if before <= 500 else "ArrowLeft")
    wanted = int(page.input_value("#reserve")) * 10
    assert wanted != before
    page.wait_for_selector("#commands .state.pending, #commands .state.applied")
    _reported(acc, "([w]) => document.getElementById('rep-reserve').dataset.permille === String(w)",
              [wanted])  # fmt: skip
    assert "eth_signTypedData_v4" in _calls(acc)
    assert acc.api(f"/sites/{SITE}/battery")["reserve_soc_permille"] == wanted
    # the mode select, by keyboard: price-based, with a low threshold
    page.focus("#mode")
    page.select_option("#mode", "price_based")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # "Set mode"
    _reported(acc, "() => document.getElementById('rep-mode').dataset.mode === 'price_based'")
    page.fill("#price-low", "0.05")
    page.click("#send-low")
    _reported(acc, "() => document.getElementById('rep-low').textContent.startsWith('0.05')")
    # the company the sell-to-company mode sells to: one of the region's
    company = acc.api("/regions/central/companies")[0]
    page.select_option("#sale-company", company["address"])
    page.click("#send-company")
    _reported(acc, "([n]) => document.getElementById('rep-company').textContent === n",
              [company["name"]])  # fmt: skip
    battery = acc.api(f"/sites/{SITE}/battery")
    assert battery["mode"] == "price_based" and battery["price_low_micro_per_kwh"] == 50_000
    assert battery["sale_company"] == company["address"]
    commands = acc.api(f"/sites/{SITE}/battery/commands")["items"]
    assert {c["action"] for c in commands if c["status"] == "applied"} >= {
        "set_reserve_soc",
        "set_mode",
        "set_price_low",
    }
    check_page(acc, "plant-wallet")


def test_a_wallet_signing_with_another_key_is_refused_on_the_page(
    wallet: tuple[Account, Signer],
) -> None:
    acc, key = wallet
    page = acc.page
    acc.goto(f"/app/sites/{SITE}/plant")
    page.wait_for_function("document.getElementById('rep-reserve').dataset.permille")
    sent = len(acc.api(f"/sites/{SITE}/battery/commands")["items"])
    page.evaluate(f"window.__walletUseKey('{OTHER_HEX}')")
    page.fill("#max-charge", "2.5")
    page.click("#send-charge")
    error, text = _toast(acc)
    assert error and "not the site owner" in text, text
    assert len(acc.api(f"/sites/{SITE}/battery/commands")["items"]) == sent
    # an order signed by the other key: refused, nothing in the book
    acc.goto(f"/app/sites/{SITE}/trading")
    page.wait_for_selector("#order-slot option", state="attached")
    page.evaluate(f"window.__walletUseKey('{OTHER_HEX}')")
    orders = set(_orders(acc))
    page.select_option("#side", "bid")
    page.fill("#order-kwh", "0.3")
    page.fill("#order-price", "0.2")
    page.click("#order-form button[type=submit]")
    error, text = _toast(acc)
    assert error and f"signature was not made by {key.address}" in text, text
    # the household's home controller keeps placing its own orders each slot (a demo key), so
    # the book may move on meanwhile: nothing like the refused order may be among the new ones
    new = [o for oid, o in _orders(acc).items() if oid not in orders]
    assert not [
        o for o in new if o["side"] == "bid" and o["energy_wh"] == 300
        and o["price_micro_per_kwh"] == 200_000
    ], new  # fmt: skip
    print(f"\nrefused on the page: {text}")
