from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridledger.errors import GridLedgerError, UnitError
from gridledger.units import (
    MAX_ENERGY_WH,
    MAX_PRICE_MICRO_PER_KWH,
    cost_micro,
    cost_micro_array,
    kwh_to_wh,
    micro_to_money,
    money_to_micro,
    split_pro_rata,
    split_pro_rata_array,
    validate_energy_wh,
    validate_power_w,
    validate_price_micro_per_kwh,
    wh_to_kwh,
)


@pytest.mark.parametrize(
    ("kwh", "wh"), [("1", 1000), ("0.001", 1), ("2.5", 2500), (3, 3000), (Decimal("0.25"), 250)]
)
def test_kwh_to_wh_exact(kwh: str | int | Decimal, wh: int) -> None:
    assert kwh_to_wh(kwh) == wh
    assert wh_to_kwh(wh) == Decimal(kwh)


@pytest.mark.parametrize("bad", ["0.0005", "abc", 1.5])
def test_kwh_to_wh_refuses_inexact(bad: object) -> None:
    with pytest.raises(UnitError):
        kwh_to_wh(bad)  # type: ignore[arg-type]


def test_money_round_trip() -> None:
    assert money_to_micro("0.25") == 250_000
    assert micro_to_money(1_234_567) == Decimal("1.234567")
    with pytest.raises(UnitError, match="6 decimals"):
        money_to_micro("0.0000001")


def test_unit_error_is_value_error_and_root() -> None:
    with pytest.raises(ValueError):
        validate_energy_wh(0)
    with pytest.raises(GridLedgerError):
        validate_energy_wh(0)


@pytest.mark.parametrize("bad", [0, -1, MAX_ENERGY_WH + 1, 1.0, True, "5", None])
def test_validate_energy_refuses(bad: object) -> None:
    with pytest.raises(UnitError, match="energy_wh"):
        validate_energy_wh(bad)


def test_validate_accepts_numpy_ints_and_bounds() -> None:
    assert validate_energy_wh(np.int64(5)) == 5
    assert validate_energy_wh(0, allow_zero=True) == 0
    assert validate_price_micro_per_kwh(MAX_PRICE_MICRO_PER_KWH) == MAX_PRICE_MICRO_PER_KWH
    assert validate_power_w(-300) == -300
    with pytest.raises(UnitError):
        validate_price_micro_per_kwh(-1)
    with pytest.raises(UnitError):
        validate_power_w(10**9)


def test_cost_is_floor_like_the_evm() -> None:
    assert cost_micro(1000, 250_000) == 250_000
    assert cost_micro(1, 999) == 0  # 0.999 micro rounds down
    assert cost_micro(3, 333_333) == 999  # 999.999 rounds down
    with pytest.raises(UnitError):
        cost_micro(-1, 5)


@given(
    st.lists(st.integers(1, MAX_ENERGY_WH), min_size=1, max_size=50),
    st.lists(st.integers(0, MAX_PRICE_MICRO_PER_KWH), min_size=1, max_size=50),
)
def test_cost_array_matches_scalar(energies: list[int], prices: list[int]) -> None:
    n = min(len(energies), len(prices))
    e = np.array(energies[:n], dtype=np.int64)
    p = np.array(prices[:n], dtype=np.int64)
    assert cost_micro_array(e, p).tolist() == [cost_micro(a, b) for a, b in zip(e, p, strict=True)]


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**8), min_size=1, max_size=40))
def test_split_pro_rata_conserves_and_is_fair(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        total = 0
    parts = split_pro_rata(total, weights)
    assert sum(parts) == total
    weight_sum = sum(weights) or 1
    for part, w in zip(parts, weights, strict=True):
        exact = total * w / weight_sum
        assert exact - 1 < part < exact + 1
    assert split_pro_rata_array(total, np.array(weights, dtype=np.int64)).tolist() == parts


def test_split_pro_rata_array_exact_beyond_float_precision() -> None:
    # both remainders round to 2**62 as float64; only exact integers give the unit to the larger
    weights = [2**62 - 100, 2**62 + 1]
    assert split_pro_rata(1, weights) == [0, 1]
    assert split_pro_rata_array(1, np.array(weights, dtype=np.int64)).tolist() == [0, 1]


def test_split_pro_rata_ties_go_to_lower_index() -> None:
    assert split_pro_rata(2, [1, 1, 1]) == [1, 1, 0]
    with pytest.raises(UnitError):
        split_pro_rata(1, [0, 0])
