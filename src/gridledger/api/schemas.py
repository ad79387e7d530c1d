"""The API's request and response bodies (pydantic models, the source of the OpenAPI schemas).

Units are in the names, as everywhere in gridledger: energy ``*_wh`` [Wh], power ``*_w`` [W],
money ``*_micro`` [micro-units], prices ``*_micro_per_kwh``, state of charge ``*_permille``
[0.1 %], times ``*_ms`` / ``*_s`` [Unix ms / s, UTC] or ISO 8601 strings with an offset.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ENERGY_WH = 100_000_000
MAX_PRICE = 1_000_000_000
Address = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="0x-prefixed 20-byte address")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- health and sign-in ---------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok", "starting", "stopping", "unhealthy"]


class NonceOut(BaseModel):
    nonce: str
    domain: str
    uri: str
    chain_id: int
    statement: str
    expires_at: str
    message_template: str = Field(description="The EIP-4361 text to sign, for ADDRESS")


class LoginIn(Strict):
    message: str = Field(max_length=4096, description="The EIP-4361 message as signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte EIP-191 sig")


class DemoLoginIn(Strict):
    site_id: str | None = Field(default=None, max_length=64)
    role: Literal["household", "company", "operator", "admin"] | None = None
    region: str | None = Field(default=None, max_length=32)


class MeOut(BaseModel):
    signs_with: Literal["wallet", "server"] = Field(
        description="who signs this session's orders and battery commands: the browser's "
        "wallet (EIP-712, see /orders/prepare and /sites/{id}/battery/commands/prepare) or the "
        "server (demo keys)"
    )
    address: str
    roles: list[str]
    sites: list[str]
    company_regions: list[str]
    operator_regions: list[str]


class SessionOut(MeOut):
    token: str
    expires_at: str


class DemoAccountsOut(BaseModel):
    enabled: bool
    sites: list[str]
    roles: list[str]


# --- regions and market ------------------------------------------------------------------------


class RegionOut(BaseModel):
    region: str
    households: int
    slot_seconds: int
    market_contract: str
    chain_id: int


class SlotSummaryOut(BaseModel):
    slot_start_s: int
    orders: int
    trades: int
    volume_wh: int
    company_wh: int
    clearing_price_micro_per_kwh: int | None
    status: str
    tx_hashes: list[str]


class TariffOut(BaseModel):
    retail_price_micro_per_kwh: int
    feed_in_price_micro_per_kwh: int
    grid_fee_micro_per_kwh: int


class MarketOut(BaseModel):
    region: str
    now: str
    open_slot_start_s: int
    slot_seconds: int
    gate_closure: str
    tariff: TariffOut
    market_contract: str
    chain_id: int
    recent: list[SlotSummaryOut]


class OfferOut(BaseModel):
    slot_start_s: int
    energy_wh: int
    price_micro_per_kwh: int
    net_price_micro_per_kwh: int


class CompanyOut(BaseModel):
    address: str
    name: str
    offer: OfferOut | None


class EnergyRow(BaseModel):
    start_ms: int
    pv_wh: int
    load_wh: int
    battery_charge_wh: int
    battery_discharge_wh: int
    grid_import_wh: int
    grid_export_wh: int


class RegionEnergyOut(BaseModel):
    region: str
    households: int
    rows: list[EnergyRow]


class SlotStatusOut(BaseModel):
    slot_start_s: int
    status: str
    trades: int
    tx_hashes: list[str]
    block_number: int


class TariffEntryOut(TariffOut):
    from_slot_start_s: int


class RegionStatusOut(BaseModel):
    region: str
    households: int
    sites: int
    settled_slots: int
    open_slot_start_s: int
    recent: list[SlotStatusOut]
    lag_s: dict[str, float]
    rejections: dict[str, int]
    operator_escrow_micro: int
    tariffs: list[TariffEntryOut]


class RegisterHouseholdIn(Strict):
    address: str = Address
    site_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class RegisterCompanyIn(Strict):
    address: str = Address
    name: str = Field(min_length=1, max_length=80)


class RegisterDeviceIn(Strict):
    device_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: Literal["pv_meter", "accumulator", "bec", "load", "ev_charger", "fuel_cell"]
    address: str = Address
    params: dict[str, int] = Field(default_factory=dict, max_length=16)


class DeviceRegisteredOut(BaseModel):
    device_id: str
    site_id: str
    kind: str
    address: str


class RegisteredOut(BaseModel):
    address: str
    region: str
    role: str
    site_id: str | None = None
    name: str | None = None


class TariffIn(Strict):
    from_slot_start_s: int = Field(ge=0, le=2**40)
    retail_price_micro_per_kwh: int = Field(ge=0, le=MAX_PRICE)
    feed_in_price_micro_per_kwh: int = Field(ge=0, le=MAX_PRICE)
    grid_fee_micro_per_kwh: int = Field(ge=0, le=MAX_PRICE)


class TariffSetOut(TariffOut):
    region: str
    from_slot_start_s: int


# --- sites -------------------------------------------------------------------------------------


class SiteOut(BaseModel):
    site_id: str
    region: str


class LastReadingOut(BaseModel):
    ts_ms: int
    sequence: int
    power_w: int | None
    import_wh: int | None
    export_wh: int | None
    soc_permille: int | None


class DeviceOut(BaseModel):
    device_id: str
    kind: str
    address: str
    params: dict[str, int]
    last_reading: LastReadingOut | None


class SiteDetailOut(BaseModel):
    site_id: str
    region: str
    devices: list[DeviceOut]


class DevicePowerOut(BaseModel):
    device_id: str
    kind: str
    power_w: int
    ts_ms: int


class TodayOut(BaseModel):
    pv_wh: int
    load_wh: int
    battery_charge_wh: int
    battery_discharge_wh: int
    grid_import_wh: int
    grid_export_wh: int


class LiveOut(BaseModel):
    site_id: str
    ts_ms: int | None
    pv_w: int
    load_w: int
    battery_w: int
    grid_w: int
    soc_permille: int | None
    devices: list[DevicePowerOut]
    today: TodayOut
    self_powered_share: float | None


class BatteryOut(BaseModel):
    site_id: str
    device_id: str
    address: str
    capacity_wh: int | None
    rated_charge_w: int | None
    rated_discharge_w: int | None
    mode: str | None
    reserve_soc_permille: int | None
    max_charge_w: int | None
    max_discharge_w: int | None
    soc_permille: int | None
    price_low_micro_per_kwh: int | None = Field(
        description="price-based mode: charge at or below this price [micro-units/kWh]"
    )
    price_high_micro_per_kwh: int | None = Field(
        description="price-based mode: discharge at or above this price [micro-units/kWh]"
    )
    region_price_micro_per_kwh: int | None = Field(
        description="the region's price the accumulator was last told [micro-units/kWh]"
    )
    sale_w: int | None = Field(
        description="sell-to-company mode: discharge setpoint of the sale being delivered [W]"
    )
    sale_company: str | None = Field(
        description="the energy company the stored energy is sold to in the sell-to-company mode"
    )
    next_nonce: int


Setting = Literal[
    "mode",
    "reserve_soc_permille",
    "max_charge_w",
    "max_discharge_w",
    "price_low_micro_per_kwh",
    "price_high_micro_per_kwh",
]
BatteryMode = Literal[
    "self_consumption",
    "backup_reserve",
    "price_based",
    "sell_to_company",
    "charge",
    "discharge",
    "hold",
    "off",
]
_VALUE_DOC = (
    "an integer (reserve [0.1 %] 0..1000, limits [W] >= 0, price thresholds [micro-units/kWh] "
    "0..1e9), or for mode: self_consumption, backup_reserve, price_based, sell_to_company, "
    "charge, discharge, hold, off"
)


class CommandIn(Strict):
    """Either ``payload`` (the 163-byte signed wire command, hex, signed in the wallet: the
    ``body`` from ``.../commands/prepare`` with the 65-byte signature appended) or a ``setting``
    and ``value`` for the server to sign (demo households)."""

    payload: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{326}$")
    setting: Setting | None = None
    value: int | BatteryMode | None = Field(default=None, description=_VALUE_DOC)


class CommandPrepareIn(Strict):
    """A setting change for the owner's wallet to sign."""

    setting: Setting
    value: int | BatteryMode = Field(description=_VALUE_DOC)


class PreparedCommandOut(BaseModel):
    """A command to sign in the wallet: ``typed_data`` for ``eth_signTypedData_v4``; send
    ``body`` with the signature's 65 bytes appended as ``payload``."""

    body: str
    nonce: int
    expires_s: int
    typed_data: dict[str, Any]


class SaleCompanyIn(Strict):
    """The energy company the sell-to-company mode sells stored energy to (``null``: none)."""

    company: str | None = Field(pattern=r"^0x[0-9a-fA-F]{40}$")


class CommandOut(BaseModel):
    id: str
    site_id: str
    device_id: str
    action: str
    value: int
    nonce: int
    status: Literal["pending", "applied", "refused"]
    detail: str
    created_ms: int


class FaultOut(BaseModel):
    """A fault of the site's installation (docs/faults.md): ``opened_ms`` when the rule fired,
    ``detail`` the plain-language explanation, ``evidence`` the numbers (units in their names),
    ``status`` open/acknowledged/closed, ``acknowledged_ms``/``acknowledged_by`` when and by
    which account the owner acknowledged it."""

    id: str
    site_id: str
    kind: str
    opened_ms: int
    closed_ms: int | None
    detail: str
    device: str = ""
    severity: str = ""
    status: str = ""
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    evidence: dict[str, float] = Field(default_factory=dict)
    acknowledged_ms: int | None = None
    acknowledged_by: str | None = None


# --- trading -----------------------------------------------------------------------------------


class SignedOrderIn(Strict):
    region: str = Field(max_length=32)
    slot_start_s: int = Field(ge=0, le=2**63 - 1)
    side: Literal["bid", "ask"]
    energy_wh: int = Field(ge=1, le=MAX_ENERGY_WH)
    price_micro_per_kwh: int = Field(ge=0, le=MAX_PRICE)
    owner: str = Address
    nonce: int = Field(ge=0, le=2**64 - 1)
    target: str = Field(default="0x" + "00" * 40, pattern=r"^0x[0-9a-fA-F]{40}$")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class OrderIn(Strict):
    """A signed order (``signed``), or the fields of one for the server to sign (demo)."""

    signed: SignedOrderIn | None = None
    region: str | None = Field(default=None, max_length=32)
    side: Literal["bid", "ask"] = "bid"
    energy_wh: int = Field(default=1000, ge=1, le=MAX_ENERGY_WH)
    price_micro_per_kwh: int = Field(default=150_000, ge=0, le=MAX_PRICE)
    slot_start_s: int | None = Field(default=None, ge=0, le=2**40)
    target: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")


class PrepareOrderIn(Strict):
    region: str | None = Field(default=None, max_length=32)
    side: Literal["bid", "ask"]
    energy_wh: int = Field(ge=1, le=MAX_ENERGY_WH)
    price_micro_per_kwh: int = Field(ge=0, le=MAX_PRICE)
    slot_start_s: int | None = Field(default=None, ge=0, le=2**40)
    target: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")


class PreparedOut(BaseModel):
    order: dict[str, Any]
    typed_data: dict[str, Any]


class SellToCompanyIn(Strict):
    company: str = Address
    energy_wh: int = Field(ge=1, le=MAX_ENERGY_WH)
    price_micro_per_kwh: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    region: str | None = Field(default=None, max_length=32)
    slot_start_s: int | None = Field(default=None, ge=0, le=2**40)


class CancelIn(Strict):
    signature: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{130}$")
    nonce: int | None = Field(default=None, ge=0, le=2**64 - 1)


class CancelTypedDataOut(BaseModel):
    nonce: int
    typed_data: dict[str, Any]


class OrderOut(BaseModel):
    order_id: str
    region: str
    slot_start_s: int
    side: Literal["bid", "ask"]
    energy_wh: int
    price_micro_per_kwh: int
    nonce: int
    target: str | None
    status: str
    filled_wh: int
    received_ms: int


class FillOut(BaseModel):
    region: str
    slot_start_s: int
    index: int
    side: Literal["sale", "purchase"]
    energy_wh: int
    price_micro_per_kwh: int
    amount_micro: int
    fee_micro: int
    counterparty: Literal["household", "company"]
    tx_hashes: list[str]
    block_number: int | None


class CompanyOfferIn(Strict):
    signed: SignedOrderIn | None = None
    region: str | None = Field(default=None, max_length=32)
    slot_start_s: int | None = Field(default=None, ge=0, le=2**40)
    energy_wh: int = Field(default=4000, ge=1, le=MAX_ENERGY_WH)
    price_micro_per_kwh: int = Field(default=140_000, ge=0, le=MAX_PRICE)


class CompanyOfferOut(BaseModel):
    order_id: str
    region: str
    slot_start_s: int
    energy_wh: int
    price_micro_per_kwh: int
    status: str


# --- archive -----------------------------------------------------------------------------------


class ArchiveEntryOut(BaseModel):
    kind: Literal["sale", "purchase", "delivery"]
    region: str
    slot_start: str
    slot_start_s: int
    index: int
    counterparty: Literal["household", "company", "grid"]
    energy_wh: int
    price_micro_per_kwh: int | None
    amount_micro: int
    fee_micro: int
    tx_hash: str | None
    block_number: int | None


class TotalsOut(BaseModel):
    period: str
    sold_wh: int
    bought_wh: int
    imbalance_wh: int
    received_micro: int
    paid_micro: int
    fees_micro: int


class ProofOut(BaseModel):
    region: str
    slot_start_s: int
    index: int
    energy_wh: int
    price_micro_per_kwh: int
    amount_micro: int
    fee_micro: int
    bid_id: str
    ask_id: str
    trade_hash: str
    tx_hash: str
    block_number: int
    log_index: int
    market_contract: str
    leaf: str
    proof: list[str]
    trades_root: str
    verified: bool
