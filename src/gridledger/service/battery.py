"""Battery settings changed by the owner: the command a request becomes, checked and sent.

The owner's wallet signs the command (``payload``: the signed wire command), or, for a demo
household, the server signs ``setting = value`` with the owner's key it holds. Either way the
:class:`~gridledger.service.plant.CommandLog` checks it as the accumulator will and sends it over
telemetry; the returned record is ``pending`` until the accumulator acknowledges.
"""

from __future__ import annotations

from typing import Any

from gridledger.errors import CommandError
from gridledger.service.access import Action, ForbiddenError, NotFoundError, Principal
from gridledger.service.monitor import site_for
from gridledger.service.plant import MODES, SETTINGS, CommandRecord
from gridledger.service.platform import Platform


def send_command(
    platform: Platform, principal: Principal | None, site_id: str, *,
    payload: str | None = None, setting: str | None = None, value: int | str | None = None,
) -> CommandRecord:  # fmt: skip
    site = site_for(platform, principal, site_id, Action.COMMAND_SITE)
    device = next((d for d in platform.queries.devices(site_id) if d.kind == "accumulator"), None)
    if device is None:
        raise NotFoundError(f"site {site_id!r} has no accumulator")
    now_s = platform.clock.now_ms() // 1000
    if payload is not None:
        raw = bytes.fromhex(payload.removeprefix("0x"))
    else:
        if setting is None or setting not in SETTINGS or value is None:
            raise CommandError(
                f"send a signed 'payload', or a 'setting' ({', '.join(SETTINGS)}) and a 'value'"
            )
        signer = platform.signer_for(principal.address if principal else "0x" + "00" * 20)
        if signer is None:
            raise ForbiddenError(
                "the server holds no key of this account: sign the command in your wallet and "
                "send it as 'payload'"
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
        raw = platform.commands.build(
            signer, site.region, bytes(device.address), setting, number, device.device_id, now_s
        )
    return platform.commands.send(
        raw, region=site.region, site_id=site_id, site_owner=bytes(site.owner),
        device_id=device.device_id, device_address=bytes(device.address), now_s=now_s,
    )  # fmt: skip


def commands_of(platform: Platform, principal: Principal | None, site_id: str) -> list[Any]:
    site_for(platform, principal, site_id, Action.READ_SITE)
    return platform.commands.of_site(site_id)
