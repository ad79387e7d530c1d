"""Battery settings as signed commands: check, send over telemetry, follow the acknowledgement.

A command (:class:`~gridledger.devices.messages.Command`, EIP-712 under the chain's domain) is
signed by the site's owner, in the wallet or, for demo households, by the server. Before sending,
the service checks what the accumulator will check (the device is the site's accumulator, the
owner is the site's owner and signed it, the nonce is above every nonce sent to the device, not
expired, in range), so a replayed command or one signed by another key is refused with a 4xx and
nothing is sent. It is then published on the device's ``commands`` topic and logged ``pending``;
the accumulator's acknowledgement (``.../commands/acks``) turns it ``applied`` or ``refused``.
The log is a :class:`~gridledger.service.journal.Journal`, so states and nonces survive restarts.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from gridledger.devices.messages import COMMAND, Action, Command, command_digest, decode_command
from gridledger.devices.models import MAX_PRICE_THRESHOLD, AccumulatorMode
from gridledger.devices.topics import topic
from gridledger.errors import CommandError, SignatureError
from gridledger.identity import Domain, Signer, checksum, keccak, recover_digest
from gridledger.service.access import ConflictError
from gridledger.service.journal import Journal
from gridledger.telemetry import Delivery, Transport

#: The settings the API names, and the command action that changes each.
SETTINGS: dict[str, Action] = {
    "mode": Action.SET_MODE,
    "reserve_soc_permille": Action.SET_RESERVE_SOC,
    "max_charge_w": Action.SET_MAX_CHARGE_W,
    "max_discharge_w": Action.SET_MAX_DISCHARGE_W,
    "price_low_micro_per_kwh": Action.SET_PRICE_LOW,
    "price_high_micro_per_kwh": Action.SET_PRICE_HIGH,
}
#: Battery modes as the app names them, and the accumulator mode each runs.
MODES: dict[str, AccumulatorMode] = {
    "self_consumption": AccumulatorMode.AUTO,
    "backup_reserve": AccumulatorMode.BACKUP_RESERVE,
    "price_based": AccumulatorMode.PRICE_BASED,
    "sell_to_company": AccumulatorMode.SELL_TO_COMPANY,
    "charge": AccumulatorMode.CHARGE,
    "discharge": AccumulatorMode.DISCHARGE,
    "hold": AccumulatorMode.HOLD,
    "off": AccumulatorMode.OFF,
}
#: The app's name of each accumulator mode (the inverse of :data:`MODES`).
MODE_NAMES: dict[AccumulatorMode, str] = {m: name for name, m in MODES.items()}
COMMAND_TTL_S = 600


@dataclass
class CommandRecord:
    """One command sent to a device: ``status`` pending | applied | refused."""

    id: str
    site_id: str
    device_id: str
    action: str
    value: int
    nonce: int
    status: str
    detail: str
    created_ms: int


class CommandLog:
    """Commands sent to accumulators, their states, and the highest nonce per device."""

    def __init__(self, journal: Journal, transport: Transport, domain: Domain) -> None:
        self.journal = journal
        self.transport = transport
        self.domain = domain
        self._records: dict[str, CommandRecord] = {}
        self._nonces: dict[str, int] = {}
        #: the energy company each site sells its stored energy to (sell-to-company mode)
        self._sale_companies: dict[str, str] = {}
        self._lock = threading.Lock()
        for entry in journal.entries():
            if entry.get("op") == "sale_company":
                if entry.get("company"):
                    self._sale_companies[str(entry["site_id"])] = str(entry["company"])
                else:
                    self._sale_companies.pop(str(entry["site_id"]), None)
            elif entry.get("op") == "command":
                rec = CommandRecord(**{k: entry[k] for k in CommandRecord.__dataclass_fields__})
                self._records[rec.id] = rec
                self._nonces[rec.device_id] = max(self._nonces.get(rec.device_id, 0), rec.nonce)
            elif entry.get("op") == "ack" and entry.get("id") in self._records:
                self._records[entry["id"]].status = entry["status"]
                self._records[entry["id"]].detail = entry["detail"]

    def applied_nonces(self) -> dict[str, int]:
        """Highest nonce per device among applied commands (to restore simulated devices)."""
        out: dict[str, int] = {}
        for r in self._records.values():
            if r.status == "applied":
                out[r.device_id] = max(out.get(r.device_id, 0), r.nonce)
        return out

    def applied_settings(self) -> dict[str, dict[Action, int]]:
        """The value of each setting as last applied per device (to restore simulated devices
        after a restart: mode, reserve, limits, price thresholds)."""
        out: dict[str, dict[Action, int]] = {}
        for r in sorted(self._records.values(), key=lambda r: r.nonce):
            if r.status == "applied":
                out.setdefault(r.device_id, {})[Action[r.action.upper()]] = r.value
        return out

    def next_nonce(self, device_id: str) -> int:
        with self._lock:
            return self._nonces.get(device_id, 0) + 1

    def unsigned(
        self,
        owner: bytes,
        region: str,
        device_address: bytes,
        setting: str,
        value: int,
        device_id: str,
        now_s: int,
        ttl_s: int = COMMAND_TTL_S,
    ) -> Command:
        """The next command for ``device_id`` (nonce above every one sent, expiring ``ttl_s``
        [clock s] after ``now_s``), for ``owner`` to sign."""
        return Command(
            region,
            device_address,
            owner,
            self.next_nonce(device_id),
            SETTINGS[setting],
            value,
            now_s + ttl_s,
        )

    def build(
        self,
        owner: Signer,
        region: str,
        device_address: bytes,
        setting: str,
        value: int,
        device_id: str,
        now_s: int,
    ) -> bytes:
        """A command signed by ``owner`` (the server signs for demo households)."""
        command = self.unsigned(
            owner.address_bytes, region, device_address, setting, value, device_id, now_s
        )
        return command.sign(owner, self.domain)

    def typed_data(self, command: Command) -> dict[str, Any]:
        """The EIP-712 typed data of ``command`` for a wallet (``eth_signTypedData_v4``): its
        signature appended to :meth:`Command.body` is the wire payload :meth:`send` takes."""
        return self.domain.typed_data(COMMAND, command.message())

    def send(
        self,
        payload: bytes,
        *,
        region: str,
        site_id: str,
        site_owner: bytes,
        device_id: str,
        device_address: bytes,
        now_s: int,
    ) -> CommandRecord:
        """Check a signed command as the accumulator will, then send it (module docstring)."""
        try:
            command, signature = decode_command(payload)
        except CommandError as exc:
            raise CommandError(f"not a signed command: {exc}") from None
        if command.device != device_address:
            raise CommandError(
                f"the command is for device {checksum(command.device)}, not {device_id}"
            )
        if command.region != region:
            raise CommandError(f"the command is for region {command.region!r}, not {region!r}")
        if command.owner != site_owner:
            raise CommandError("the command names another owner than the site's")
        try:
            signer = recover_digest(command_digest(self.domain, payload[:-65]), signature)
        except SignatureError as exc:
            raise CommandError(f"the command's signature is malformed: {exc}") from None
        if signer != site_owner:
            raise CommandError(f"the command was signed by {checksum(signer)}, not the site owner")
        if command.expires_s and command.expires_s < now_s:
            raise CommandError(f"the command expired at {command.expires_s}")
        try:
            Command(
                command.region,
                command.device,
                command.owner,
                command.nonce,
                command.action,
                command.value,
                command.expires_s,
            ).body()
            check_range(command.action, command.value)
        except CommandError:
            raise
        with self._lock:
            last = self._nonces.get(device_id, 0)
            if command.nonce <= last:
                raise ConflictError(
                    f"command nonce {command.nonce} is not above {last}, the last sent to "
                    f"{device_id} (a replay?); sign a new command with nonce {last + 1}"
                )
            self._nonces[device_id] = command.nonce
            record = CommandRecord(
                "0x" + keccak(payload).hex(),
                site_id,
                device_id,
                command.action.name.lower(),
                command.value,
                command.nonce,
                "pending",
                "sent to the accumulator",
                int(time.time() * 1000),
            )
            self._records[record.id] = record
        self.journal.append({"op": "command", **asdict(record)})
        self.transport.publish(topic(region, site_id, device_id, "commands"), payload)
        return record

    def on_ack(self, delivery: Delivery) -> CommandRecord | None:
        """Handle a device's acknowledgement; return the updated record."""
        try:
            ack = json.loads(delivery.payload)
            rid = str(ack["payload_hash"])
            status = str(ack["status"])
            detail = str(ack.get("detail", ""))[:500]
        except (ValueError, KeyError, TypeError):
            delivery.ack()
            return None
        with self._lock:
            record = self._records.get(rid)
            if record is not None and status in ("applied", "refused"):
                record.status = status
                record.detail = detail
        if record is not None:
            self.journal.append({"op": "ack", "id": rid, "status": status, "detail": detail})
        delivery.ack()
        return record

    def set_sale_company(self, site_id: str, company: str | None) -> None:
        """The company (checksummed address) ``site_id`` sells stored energy to in the
        sell-to-company mode, or ``None``; journaled, so it survives restarts."""
        self.journal.append({"op": "sale_company", "site_id": site_id, "company": company})
        with self._lock:
            if company is None:
                self._sale_companies.pop(site_id, None)
            else:
                self._sale_companies[site_id] = company

    def sale_companies(self) -> dict[str, str]:
        """Site id -> chosen company, for every site that chose one."""
        with self._lock:
            return dict(self._sale_companies)

    def of_site(self, site_id: str) -> list[CommandRecord]:
        with self._lock:
            return sorted(
                (r for r in self._records.values() if r.site_id == site_id),
                key=lambda r: (r.created_ms, r.id),
            )

    def get(self, command_id: str) -> CommandRecord | None:
        with self._lock:
            return self._records.get(command_id)


def check_range(action: Action, value: int) -> None:
    if action is Action.SET_MODE and value not in {int(m) for m in AccumulatorMode}:
        raise CommandError(f"unknown accumulator mode {value}")
    if action is Action.SET_RESERVE_SOC and not 0 <= value <= 1000:
        raise CommandError(f"reserve SoC must be 0..1000 [0.1 %], got {value}")
    if action in (Action.SET_MAX_CHARGE_W, Action.SET_MAX_DISCHARGE_W) and value < 0:
        raise CommandError(f"a power limit must be >= 0 W, got {value}")
    if action in (Action.SET_PRICE_LOW, Action.SET_PRICE_HIGH) and not (
        0 <= value <= MAX_PRICE_THRESHOLD
    ):
        raise CommandError(
            f"a price threshold must be 0..{MAX_PRICE_THRESHOLD} micro-units/kWh, got {value}"
        )
