from __future__ import annotations

import pytest

from gridledger.devices import (
    Accumulator,
    AccumulatorMode,
    Action,
    BatteryAlarm,
    BidirectionalCounter,
    ChargeStatus,
    Command,
    DeviceKind,
    HouseholdLoad,
    SolarMeter,
    decode_reading,
)
from gridledger.errors import CommandError
from gridledger.identity import Domain, Signer
from gridledger.telemetry import Site

DOMAIN = Domain(1337)
OWNER = Signer.from_hex("0x" + "55" * 32)
STRANGER = Signer.from_hex("0x" + "66" * 32)
QUARTER_MS = 15 * 60 * 1000


def battery(**params: object) -> Accumulator:
    acc = Accumulator(
        Signer.from_hex("0x" + "77" * 32), "north", "s1", "s1-battery", owner=OWNER.address_bytes,
        **params,  # type: ignore[arg-type]
    )  # fmt: skip
    return acc


def command(acc: Accumulator, action: Action, value: int, nonce: int, signer: Signer = OWNER,
            **changes: object) -> bytes:  # fmt: skip
    fields: dict[str, object] = {
        "region": acc.region, "device": acc.address, "owner": OWNER.address_bytes,
        "nonce": nonce, "action": action, "value": value, "expires_s": 0,
    }  # fmt: skip
    fields.update(changes)
    return Command(**fields).sign(signer, DOMAIN)  # type: ignore[arg-type]


def test_registers_are_cumulative_exact_wh() -> None:
    pv = SolarMeter(Signer.generate(), "north", "s1", "s1-pv", peak_w=4000)
    for _ in range(4):
        assert pv.produce(5000, QUARTER_MS) == 4000  # clipped to peak
    assert (pv.export_wh, pv.import_wh, pv.power_w) == (4000, 0, 4000)
    load = HouseholdLoad(Signer.generate(), "north", "s1", "s1-load")
    for _ in range(3600):
        load.consume(1, 1000)  # 1 W for an hour, one second at a time: no rounding loss
    assert load.import_wh == 1


def test_readings_have_increasing_sequence_and_sign_with_device_key() -> None:
    pv = SolarMeter(Signer.generate(), "north", "s1", "s1-pv")
    pv.produce(1000, QUARTER_MS)
    first, _ = decode_reading(pv.signed_reading(1_000, DOMAIN))
    second, _ = decode_reading(pv.signed_reading(2_000, DOMAIN))
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.kind is DeviceKind.SOLAR_METER and first.device == pv.address
    assert first.export_wh == 250


def test_bec_obis_registers() -> None:
    bec = BidirectionalCounter(Signer.generate(), "north", "s1", "s1-bec")
    bec.exchange(2000, QUARTER_MS)
    bec.exchange(-4000, QUARTER_MS)
    assert (bec.obis_1_8_0, bec.obis_2_8_0) == (500, 1000)


def test_accumulator_respects_limits_capacity_and_reserve() -> None:
    acc = battery(capacity_wh=1000, max_charge_w=2000, round_trip_efficiency=1.0)
    acc.soc_permille = 500
    assert acc.dispatch(5000, QUARTER_MS) == 2000  # owner's charge limit
    assert acc.soc_permille == 1000 and acc.charge_status == ChargeStatus.CHARGING
    assert acc.dispatch(1000, QUARTER_MS) == 0  # full
    status: ChargeStatus = acc.charge_status
    assert status == ChargeStatus.FULL
    acc.reserve_soc_permille = 400
    delivered = 0
    for _ in range(10):
        delivered -= acc.dispatch(-3000, QUARTER_MS)
    assert acc.soc_permille == 400  # never below the reserve
    assert delivered * QUARTER_MS // 3_600_000 == 600
    acc.reserve_soc_permille = 600
    acc.dispatch(0, QUARTER_MS)
    assert acc.alarms & BatteryAlarm.UNDER_SOC_MIN_WARNING


def test_round_trip_efficiency_loses_energy() -> None:
    acc = battery(capacity_wh=10_000, round_trip_efficiency=0.81, reserve_soc_permille=0)
    acc.dispatch(4000, 3_600_000)
    assert acc.stored_wh == 3600  # sqrt(0.81) on the way in
    out = 0
    while (p := acc.dispatch(-5000, 60_000)) < 0:
        out -= p * 60_000
    assert out // 3_600_000 == pytest.approx(3240, abs=5)


def test_owner_commands_change_settings() -> None:
    acc = battery()
    acc.apply_command(command(acc, Action.SET_RESERVE_SOC, 300, 1), DOMAIN, now_s=0)
    acc.apply_command(command(acc, Action.SET_MAX_CHARGE_W, 1500, 2), DOMAIN, now_s=0)
    acc.apply_command(command(acc, Action.SET_MAX_DISCHARGE_W, 1000, 3), DOMAIN, now_s=0)
    acc.apply_command(command(acc, Action.SET_MODE, AccumulatorMode.HOLD, 4), DOMAIN, now_s=0)
    assert (acc.reserve_soc_permille, acc.max_charge_w, acc.max_discharge_w, acc.mode) == (
        300, 1500, 1000, AccumulatorMode.HOLD,
    )  # fmt: skip
    assert acc.dispatch(1000, QUARTER_MS) == 0
    assert acc.last_nonce == 4


def test_refuses_unsigned_foreign_replayed_and_bad_commands() -> None:
    acc = battery()
    good = command(acc, Action.SET_RESERVE_SOC, 300, 5)
    unsigned = good[:-65] + bytes(65)
    cases = {
        "unsigned": unsigned,
        "foreign key": command(acc, Action.SET_RESERVE_SOC, 300, 5, signer=STRANGER),
        "foreign owner": command(
            acc, Action.SET_RESERVE_SOC, 300, 5, signer=STRANGER, owner=STRANGER.address_bytes
        ),
        "other device": command(acc, Action.SET_RESERVE_SOC, 300, 5, device=bytes(20)),
        "other region": command(acc, Action.SET_RESERVE_SOC, 300, 5, region="south"),
        "other chain": Command(
            "north", acc.address, OWNER.address_bytes, 5, Action.SET_RESERVE_SOC, 300
        ).sign(OWNER, Domain(1)),
        "expired": command(acc, Action.SET_RESERVE_SOC, 300, 5, expires_s=99),
        "out of range": command(acc, Action.SET_RESERVE_SOC, 1001, 5),
        "limit above rating": command(acc, Action.SET_MAX_CHARGE_W, 99_999, 5),
        "bad mode": command(acc, Action.SET_MODE, 42, 5),
        "truncated": good[:-1],
        "tampered": good[:-70] + bytes([good[-70] ^ 1]) + good[-69:],
    }
    for name, payload in cases.items():
        with pytest.raises(CommandError):
            acc.apply_command(payload, DOMAIN, now_s=100)
        assert acc.reserve_soc_permille == 100 and acc.last_nonce == 0, name
    acc.apply_command(good, DOMAIN, now_s=100)
    assert acc.reserve_soc_permille == 300
    with pytest.raises(CommandError, match="nonce"):
        acc.apply_command(good, DOMAIN, now_s=100)  # replay
    with pytest.raises(CommandError, match="nonce"):
        acc.apply_command(command(acc, Action.SET_RESERVE_SOC, 200, 4), DOMAIN, now_s=100)


def test_site_energy_balance_closes() -> None:
    site = Site.household("s1", "north", OWNER, pv_peak_w=6000, battery_wh=5000, ev=True)
    ev = site.devices[3]
    ev.connected = True  # type: ignore[attr-defined]
    for pv_w, load_w in [(5000, 500), (5000, 500), (0, 3000), (0, 3000), (0, 3000), (2000, 2000)]:
        site.step(pv_w, load_w, QUARTER_MS, ev_w=700)
    by_id = {d.device_id: d for d in site.devices}
    produced = by_id["s1-pv"].export_wh
    consumed = by_id["s1-load"].import_wh + by_id["s1-ev"].import_wh
    bat = by_id["s1-battery"]
    grid = by_id["s1-bec"]
    net_in = produced + grid.import_wh + bat.export_wh
    net_out = consumed + grid.export_wh + bat.import_wh
    assert abs(net_in - net_out) <= 4  # whole-Wh register rounding, one Wh per register
    topics = [t for t, _ in site.readings(1_000, DOMAIN)]
    assert topics[0] == "gridledger/north/s1/s1-pv/readings"
    assert len(topics) == 5


# --- the battery modes the field names (Accumulator.setpoint_w) ---------------------------------


def moded(mode: AccumulatorMode, soc: int, **params: object) -> Accumulator:
    acc = battery(
        capacity_wh=10_000, max_charge_w=3000, max_discharge_w=2000, round_trip_efficiency=1.0,
        reserve_soc_permille=300, mode=mode, **params,
    )  # fmt: skip
    acc.soc_permille = soc
    return acc


def test_self_consumption_absorbs_surplus_and_covers_deficit_down_to_the_reserve() -> None:
    acc = moded(AccumulatorMode.AUTO, 500)
    assert acc.dispatch(1200, QUARTER_MS) == 1200
    assert acc.dispatch(-800, QUARTER_MS) == -800
    acc.soc_permille = 300
    assert acc.dispatch(-800, QUARTER_MS) == 0  # at the reserve


def test_backup_reserve_refills_from_the_grid_and_never_covers_the_home() -> None:
    acc = moded(AccumulatorMode.BACKUP_RESERVE, 200)  # below its 30 % reserve
    assert acc.dispatch(-1500, QUARTER_MS) == 3000  # charges at the limit despite the deficit
    acc.soc_permille = 600
    assert acc.dispatch(-1500, QUARTER_MS) == 0  # above the reserve: kept for an outage
    assert acc.soc_permille == 600
    assert acc.dispatch(700, QUARTER_MS) == 700  # surplus still goes in


def test_price_based_charges_cheap_discharges_dear_and_follows_the_home_in_between() -> None:
    acc = moded(AccumulatorMode.PRICE_BASED, 500,
                price_low_micro_per_kwh=80_000, price_high_micro_per_kwh=200_000)  # fmt: skip
    assert acc.dispatch(-600, QUARTER_MS) == -600  # no price told yet: self-consumption
    acc.price_micro_per_kwh = 80_000
    assert acc.dispatch(-600, QUARTER_MS) == 3000  # cheap: charge at the limit from the grid
    acc.price_micro_per_kwh = 200_000
    assert acc.dispatch(900, QUARTER_MS) == -2000  # dear: discharge at the limit despite PV
    acc.price_micro_per_kwh = 150_000
    assert acc.dispatch(900, QUARTER_MS) == 900  # in between: self-consumption
    acc.price_micro_per_kwh = 500_000
    acc.soc_permille = 300
    assert acc.dispatch(0, QUARTER_MS) == 0  # never below the reserve


def test_sell_to_company_keeps_its_energy_for_the_sale_and_delivers_it() -> None:
    acc = moded(AccumulatorMode.SELL_TO_COMPANY, 700)
    assert acc.dispatch(-900, QUARTER_MS) == 0  # covers no deficit: the energy is sold
    assert acc.dispatch(400, QUARTER_MS) == 400  # absorbs surplus
    assert acc.sellable_wh() == 10_000 * (acc.soc_permille - 300) // 1000
    acc.sale_w = 1600
    stored = acc.stored_wh
    assert acc.dispatch(-900, QUARTER_MS) == -1600  # delivers the sale at its setpoint
    assert acc.stored_wh == stored - 400  # 1.6 kW for a quarter hour
    acc.soc_permille = 300
    assert acc.sellable_wh() == 0 and acc.dispatch(0, QUARTER_MS) == 0


def test_sellable_energy_counts_the_discharge_loss() -> None:
    acc = battery(capacity_wh=10_000, round_trip_efficiency=0.81, reserve_soc_permille=200)
    acc.soc_permille = 700
    assert acc.sellable_wh() == 4500  # 5 kWh above the reserve, 0.9 of it at the terminals


def test_mode_and_price_thresholds_by_signed_command() -> None:
    acc = battery()
    acc.apply_command(command(acc, Action.SET_PRICE_LOW, 60_000, 1), DOMAIN, now_s=0)
    acc.apply_command(command(acc, Action.SET_PRICE_HIGH, 310_000, 2), DOMAIN, now_s=0)
    acc.apply_command(
        command(acc, Action.SET_MODE, AccumulatorMode.PRICE_BASED, 3), DOMAIN, now_s=0
    )
    assert (acc.price_low_micro_per_kwh, acc.price_high_micro_per_kwh, acc.mode) == (
        60_000, 310_000, AccumulatorMode.PRICE_BASED,
    )  # fmt: skip
    for nonce, (action, value) in enumerate(
        ((Action.SET_PRICE_LOW, -1), (Action.SET_PRICE_HIGH, 10**12), (Action.SET_MODE, 99)), 4
    ):
        with pytest.raises(CommandError):
            acc.apply_command(command(acc, action, value, nonce), DOMAIN, now_s=0)
    assert (acc.price_low_micro_per_kwh, acc.price_high_micro_per_kwh) == (60_000, 310_000)
    assert acc.mode is AccumulatorMode.PRICE_BASED and acc.last_nonce == 3
