from __future__ import annotations

import numpy as np

from gridledger.control import (
    BatteryBank,
    HomeController,
    PriceBased,
    SelfConsumption,
    SellToCompany,
    SlotContext,
)


def ctx(slot_of_day: int = 0, company: int | None = None) -> SlotContext:
    return SlotContext(0, 0, slot_of_day, 96, 300_000, 80_000, 20_000, company)


def test_self_consumption_quotes_the_grid_prices() -> None:
    limits = SelfConsumption().limits(ctx(), np.array([5, -5], np.int64))
    assert limits.ask_micro.tolist() == [80_000, 80_000]
    assert limits.bid_micro.tolist() == [300_000, 300_000]
    assert not limits.to_company.any()


def test_sell_to_company_only_when_it_pays_at_least_feed_in() -> None:
    residual = np.array([5, -5, 7], np.int64)
    assert SellToCompany().limits(ctx(company=140_000), residual).to_company.tolist() == [
        True, False, True,
    ]  # fmt: skip
    assert not SellToCompany().limits(ctx(company=90_000), residual).to_company.any()
    assert not SellToCompany().limits(ctx(company=None), residual).to_company.any()


def test_price_based_limits_stay_in_the_band_and_follow_the_forecast() -> None:
    strategy = PriceBased(np.array([0, 100, 1000], np.int64))
    residual = np.array([1, 1, 1], np.int64)
    first = strategy.limits(ctx(3), residual)
    assert (first.ask_micro >= 80_000).all() and (first.ask_micro <= 280_000).all()
    assert (first.bid_micro >= 80_000).all() and (first.bid_micro <= 300_000).all()
    assert first.ask_micro[0] == (80_000 + 280_000) // 2  # no margin: the forecast itself
    for _ in range(40):
        strategy.observe(ctx(3), 100_000)
    later = strategy.limits(ctx(3), residual)
    assert later.ask_micro[0] < first.ask_micro[0]  # learned a lower price at this time of day
    assert strategy.limits(ctx(4), residual).ask_micro[0] == first.ask_micro[0]


def test_controller_serves_load_then_battery_then_trades() -> None:
    bank = BatteryBank.of(np.array([10_000, 0]), np.array([4000, 0]), initial_soc_permille=500)
    controller = HomeController(bank, [(np.array([0, 1]), SelfConsumption())])
    pos = controller.step(ctx(), np.array([3000, 3000]), np.array([1000, 1000]), 0.25)
    # household 0 charges 1 kWh (its power limit per slot), household 1 has no battery
    assert pos.charged_wh.tolist() == [1000, 0]
    assert pos.residual_wh.tolist() == [1000, 2000]
    pos = controller.step(ctx(), np.array([0, 0]), np.array([500, 500]), 0.25)
    assert pos.discharged_wh.tolist() == [500, 0]
    assert pos.residual_wh.tolist() == [0, -500]


def test_groups_get_their_own_strategy() -> None:
    bank = BatteryBank.of(np.zeros(3, np.int64), np.zeros(3, np.int64))
    controller = HomeController(
        bank, [(np.array([0, 2]), SelfConsumption()), (np.array([1]), SellToCompany())]
    )
    pos = controller.step(ctx(company=140_000), np.array([9, 9, 9]), np.array([1, 1, 1]), 0.25)
    assert pos.to_company.tolist() == [False, True, False]
