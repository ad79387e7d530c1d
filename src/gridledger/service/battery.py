"""Battery settings changed by the owner: the command a request becomes, checked and sent.

The owner's wallet signs the command (``payload``: the signed wire command, its typed data from
:func:`prepare_command`), or, for a demo household, the server signs ``setting = value`` with the
owner's key it holds. Either way the :class:`~gridledger.service.plant.CommandLog` checks it as
the accumulator will and sends it over telemetry; the returned record is ``pending`` until the
accumulator acknowledges.
"""

from __future__ import annotations

import math
from typing import Any

from gridledger.errors import CommandError
from gridledger.identity import checksum
from gridledger.service.access import Action, ForbiddenError, NotFoundError, Principal
from gridledger.service.monitor import site_for
from gridledger.service.plant import COMMAND_TTL_S, MODES, SETTINGS, CommandRecord, check_range
from gridledger.service.platform import Platform
from gridledger.store import Device

#: Wall time [s] a wallet-signed command stays valid for at least (to confirm in the wallet).
WALLET_SIGNING_WALL_S = 300


def _value(setting: str | None, value: int | str | None) -> tuple[str, int]:
    """``setting = value`` as the command's action and integer value (modes by their app name);
    :class:`CommandError` (422) names what is wrong."""
    if setting is None or setting not in SETTINGS or value is None:
        raise CommandError(
            f"send a signed 'payload', or a 'setting' ({', '.join(SETTINGS)}) and a 'value'"
        )
    if setting == "mode":
        if str(value) not in MODES:
            raise CommandError(f"mode must be one of {', '.join(MODES)}, got {value!r}")
        number = int(MODES[str(value)])
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise CommandError(f"{setting} takes an integer, got {value!r}")
    if not -(2**63) <= number < 2**63:
        raise CommandError(f"{setting} is out of range")
    check_range(SETTINGS[setting], number)
    return setting, number


def _accumulator(platform: Platform, site_id: str) -> Device:
    device = next((d for d in platform.queries.devices(site_id) if d.kind == "accumulator"), None)
    if device is None:
        raise NotFoundError(f"site {site_id!r} has no accumulator")
    return device


def prepare_command(
    platform: Platform, principal: Principal | None, site_id: str, *,
    setting: str | None, value: int | str | None,
) -> dict[str, Any]:  # fmt: skip
    """The command ``setting = value`` for the owner's wallet to sign: its EIP-712 typed data
    (``eth_signTypedData_v4``) and its binary record ``body``; ``body || signature`` is the
    ``payload`` :func:`send_command` takes. Nothing is sent or reserved: the nonce is the next
    one, so a command sent meanwhile makes this one a replay (409), to be prepared again."""
    site = site_for(platform, principal, site_id, Action.COMMAND_SITE)
    device = _accumulator(platform, site_id)
    name, number = _value(setting, value)
    # a person confirms in the wallet: give them WALLET_SIGNING_WALL_S of wall time even when
    # the clock runs --speed times faster (a command expiring mid-confirmation is refused)
    wall_per_clock_s = platform.clock.wall_seconds(1.0)
    ttl_s = COMMAND_TTL_S
    if wall_per_clock_s > 0:
        ttl_s = max(ttl_s, math.ceil(WALLET_SIGNING_WALL_S / wall_per_clock_s))
    command = platform.commands.unsigned(
        bytes(site.owner), site.region, bytes(device.address), name, number,
        device.device_id, platform.clock.now_ms() // 1000, ttl_s,
    )  # fmt: skip
    return {
        "body": "0x" + command.body().hex(),
        "nonce": command.nonce,
        "expires_s": command.expires_s,
        "typed_data": platform.commands.typed_data(command),
    }


def send_command(
    platform: Platform, principal: Principal | None, site_id: str, *,
    payload: str | None = None, setting: str | None = None, value: int | str | None = None,
) -> CommandRecord:  # fmt: skip
    site = site_for(platform, principal, site_id, Action.COMMAND_SITE)
    device = _accumulator(platform, site_id)
    now_s = platform.clock.now_ms() // 1000
    if payload is not None:
        raw = bytes.fromhex(payload.removeprefix("0x"))
    else:
        name, number = _value(setting, value)
        signer = platform.signer_for(principal.address if principal else "0x" + "00" * 20)
        if signer is None:
            raise ForbiddenError(
                "the server holds no key of this account: sign the command in your wallet "
                "(POST .../battery/commands/prepare gives the EIP-712 typed data) and send it "
                "as 'payload'"
            )
        raw = platform.commands.build(
            signer, site.region, bytes(device.address), name, number, device.device_id, now_s
        )
    return platform.commands.send(
        raw, region=site.region, site_id=site_id, site_owner=bytes(site.owner),
        device_id=device.device_id, device_address=bytes(device.address), now_s=now_s,
    )  # fmt: skip


def choose_company(
    platform: Platform, principal: Principal | None, site_id: str, company: str | None
) -> str | None:
    """Set the energy company ``site_id`` sells its stored energy to in the sell-to-company mode
    (``None``: none); it must be registered in the site's region. Returns its checksummed
    address. A choice of the service, not a device setting: the sale itself is an order signed
    by the owner (:mod:`gridledger.service.controllers`)."""
    site = site_for(platform, principal, site_id, Action.COMMAND_SITE)
    chosen = None
    if company is not None:
        chosen = checksum(company)
        if chosen not in platform.region(site.region).company_names:
            raise NotFoundError(
                f"{chosen} is not a registered energy company of region {site.region!r}; "
                f"see GET /api/v1/regions/{site.region}/companies"
            )
    platform.commands.set_sale_company(site_id, chosen)
    return chosen


def commands_of(platform: Platform, principal: Principal | None, site_id: str) -> list[Any]:
    site_for(platform, principal, site_id, Action.READ_SITE)
    return platform.commands.of_site(site_id)
