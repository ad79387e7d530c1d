from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gridledger.control import BatteryBank


def test_battery_respects_limits_and_reserve() -> None:
    bank = BatteryBank(
        capacity_wh=np.array([10_000, 10_000, 0], dtype=np.int64),
        power_w=np.array([4000, 4000, 0], dtype=np.int64),
        soc_wh=np.array([9_900, 1_500, 0], dtype=np.int64),
        efficiency_permille=np.full(3, 950, np.int64),
        reserve_wh=np.array([1000, 1000, 0], dtype=np.int64),
    )
    charged, discharged, residual = bank.dispatch(
        np.array([5000, -5000, 700], dtype=np.int64), 0.25
    )
    assert charged.tolist() == [105, 0, 0]  # (10000 - 9900) / 0.95, rounded down
    assert discharged.tolist() == [0, 500, 0]  # down to the 10% reserve
    assert residual.tolist() == [4895, -4500, 700]
    assert bank.soc_wh.tolist() == [9_900 + 105 * 950 // 1000, 1000, 0]


def test_power_limit_per_slot() -> None:
    bank = BatteryBank.of(np.array([20_000]), np.array([2000]), initial_soc_permille=500)
    charged, _, residual = bank.dispatch(np.array([3000], np.int64), 0.25)
    assert charged.tolist() == [500]  # 2 kW for a quarter hour
    assert residual.tolist() == [2500]


@given(
    st.lists(st.integers(-5000, 5000), min_size=1, max_size=50),
    st.integers(0, 20_000),
    st.integers(0, 6000),
    st.integers(500, 1000),
    st.integers(0, 1000),
)
def test_dispatch_conserves_energy_and_stays_in_bounds(
    nets: list[int], capacity: int, power: int, efficiency: int, reserve: int
) -> None:
    bank = BatteryBank.of(
        np.array([capacity]),
        np.array([power]),
        initial_soc_permille=reserve,
        reserve_permille=reserve,
        efficiency_permille=efficiency,
    )
    for net in nets:
        soc = int(bank.soc_wh[0])
        charged, discharged, residual = bank.dispatch(np.array([net], np.int64), 0.25)
        assert net - int(charged[0]) + int(discharged[0]) == int(residual[0])
        assert int(charged[0]) == 0 or int(discharged[0]) == 0
        assert int(bank.soc_wh[0]) == soc + int(charged[0]) * efficiency // 1000 - int(
            discharged[0]
        )
        assert int(bank.reserve_wh[0]) <= int(bank.soc_wh[0]) <= capacity
        assert max(int(charged[0]), int(discharged[0])) <= power // 4
