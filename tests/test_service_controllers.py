"""The home controllers and the battery modes that need the market, on the live platform (manual
clock): the sell-to-company mode sells the stored energy above the reserve to the chosen company
with a sell order before gate closure and discharges it while the slot is delivered; the
price-based mode is told the region's price and charges when it is low."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from serve_platform import make_platform, run_minutes

from gridledger.devices.models import Accumulator, AccumulatorMode
from gridledger.identity import checksum
from gridledger.market import Order
from gridledger.service import battery
from gridledger.service.clock import ManualClock
from gridledger.service.controllers import COMPANY_OFFER_WH, region_price
from gridledger.service.platform import Platform


def _until(platform: Platform, clock: ManualClock, done: Callable[[], bool], minutes: int) -> None:
    for _ in range(minutes):
        if done():
            return
        run_minutes(platform, clock, 1)
    assert done(), f"not within {minutes} clock minutes"


def test_sell_to_company_sells_stored_energy_before_gate_closure_and_delivers_it(
    tmp_path: Path,
) -> None:
    platform, clock = make_platform(tmp_path, telemetry_url=f"memory://{tmp_path.name}")
    try:
        run_minutes(platform, clock, 2)
        service = platform.regions["central"]
        hood = platform.neighbourhoods["central"]
        site = hood.sites[1]
        acc = hood.accumulator(site.site_id)
        assert isinstance(acc, Accumulator) and service.company is not None
        company = checksum(service.company.address)
        owner = platform.principal_of(site.owner.address)
        battery.choose_company(platform, owner, site.site_id, company)
        for setting, value in (("reserve_soc_permille", 200), ("mode", "sell_to_company")):
            record = battery.send_command(
                platform, owner, site.site_id, setting=setting, value=value
            )
            assert platform.commands.get(record.id) is not None
        run_minutes(platform, clock, 1)
        assert acc.mode is AccumulatorMode.SELL_TO_COMPANY and acc.reserve_soc_permille == 200
        acc.soc_permille = 800  # energy stored earlier in the day
        opened = service.open_slot().start_s

        fee = service.market.rules_for(service.open_slot()).tariff.grid_fee_micro_per_kwh
        net = {checksum(o.owner): o.price_micro_per_kwh - fee for o in service.offers(opened)}
        assert company in net, "the demo company offers every slot"

        def sales() -> list[Order]:
            # the home controller may also offer PV surplus to the company, at its own price
            return [
                s.order
                for s in service.orders_of(site.owner.address)
                if s.order.targets_company
                and not s.order.is_bid
                and s.order.slot_start_s > opened
                and s.order.price_micro_per_kwh == net[company]
            ]

        _until(platform, clock, lambda: bool(sales()), 20)
        order = sales()[0]
        slot_s = service.open_slot().length_s
        assert checksum(order.target) == company
        # no bid of the household in that slot: one side per owner and slot
        assert all(
            not s.order.is_bid
            for s in service.orders_of(site.owner.address)
            if s.order.slot_start_s == order.slot_start_s
        )
        # all it holds above the reserve, within the offer and the discharge limit over the slot
        assert 0 < order.energy_wh <= min(COMPANY_OFFER_WH, acc.max_discharge_w * slot_s // 3600)
        assert order.energy_wh <= acc.capacity_wh * (800 - 200) // 1000 + acc.capacity_wh // 10
        # while the slot is delivered the battery discharges the sale
        start_ms = order.slot_start_s * 1000
        _until(platform, clock, lambda: clock.now_ms() > start_ms + 60_000, 40)
        assert acc.sale_w == order.energy_wh * 3600 // slot_s
        assert acc.power_w == acc.sale_w  # discharging at the sale's setpoint
        # the next slot: the battery delivers what it sold for that one (if it had any left)
        _until(platform, clock, lambda: clock.now_ms() > start_ms + slot_s * 1000 + 60_000, 20)
        now_ms = clock.now_ms()
        delivering = [
            o for o in sales() if o.slot_start_s * 1000 < now_ms <= (o.slot_start_s + slot_s) * 1000
        ]
        assert acc.sale_w == sum(o.energy_wh * 3600 // slot_s for o in delivering)
    finally:
        platform.stop()


def test_price_based_is_told_the_regions_price_and_charges_when_it_is_low(tmp_path: Path) -> None:
    platform, clock = make_platform(tmp_path, telemetry_url=f"memory://{tmp_path.name}")
    try:
        run_minutes(platform, clock, 2)
        service = platform.regions["central"]
        hood = platform.neighbourhoods["central"]
        site = hood.sites[2]
        acc = hood.accumulator(site.site_id)
        assert isinstance(acc, Accumulator)
        owner = platform.principal_of(site.owner.address)
        # any price is "low" under a threshold of 1,000 currency units/kWh
        for setting, value in (("price_low_micro_per_kwh", 10**9), ("mode", "price_based")):
            battery.send_command(platform, owner, site.site_id, setting=setting, value=value)
        acc.soc_permille = 300
        opened = service.open_slot().start_s
        _until(platform, clock, lambda: service.open_slot().start_s > opened, 20)
        run_minutes(platform, clock, 1)
        tariff = service.market.rules_for(service.open_slot()).tariff
        assert acc.price_micro_per_kwh == region_price(service, tariff.retail_price_micro_per_kwh)
        assert acc.power_w == -acc.max_charge_w  # charging at the limit, from the grid if need be
        # a high threshold under the price: it discharges at its limit instead
        battery.send_command(platform, owner, site.site_id, setting="price_low_micro_per_kwh",
                             value=0)  # fmt: skip
        battery.send_command(platform, owner, site.site_id, setting="price_high_micro_per_kwh",
                             value=1)  # fmt: skip
        run_minutes(platform, clock, 2)
        assert acc.power_w == acc.max_discharge_w
    finally:
        platform.stop()


def test_a_restart_keeps_the_battery_settings_and_the_sale_company(tmp_path: Path) -> None:
    url = f"memory://{tmp_path.name}"
    platform, clock = make_platform(tmp_path, households=5, telemetry_url=url)
    site_id = platform.neighbourhoods["central"].sites[3].site_id
    company = platform.regions["central"].company
    assert company is not None
    try:
        run_minutes(platform, clock, 1)
        owner = platform.principal_of(platform.neighbourhoods["central"].sites[3].owner.address)
        for setting, value in (
            ("mode", "backup_reserve"),
            ("reserve_soc_permille", 350),
            ("price_high_micro_per_kwh", 222_000),
            ("mode", "sell_to_company"),  # the last mode applied wins
        ):
            battery.send_command(platform, owner, site_id, setting=setting, value=value)
        battery.choose_company(platform, owner, site_id, company.address)
        run_minutes(platform, clock, 1)
    finally:
        platform.close()  # a crash: the next process opens the same data dir
    again, _ = make_platform(tmp_path, households=5, clock=clock, telemetry_url=url)
    try:
        acc = again.neighbourhoods["central"].accumulator(site_id)
        assert acc is not None
        assert acc.mode is AccumulatorMode.SELL_TO_COMPANY
        assert (acc.reserve_soc_permille, acc.price_high_micro_per_kwh) == (350, 222_000)
        assert again.commands.sale_companies()[site_id] == checksum(company.address)
    finally:
        again.stop()
