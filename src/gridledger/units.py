"""Units of energy, power and money, and the one rounding rule.

Conventions (DESIGN.md):

* energy is an integer number of watt-hours (``energy_wh``);
* power is an integer number of watts (``power_w``);
* money is an integer number of micro-units of the community currency (``amount_micro``);
  1 currency unit = 1,000,000 micro-units;
* a price is micro-units per kWh (``price_micro_per_kwh``).

Floats never carry money or settled energy. Conversions from decimal text go through
:class:`decimal.Decimal` and refuse anything that is not exactly representable.

**The rounding rule, stated once.** The amount paid for ``energy_wh`` at
``price_micro_per_kwh`` is ``energy_wh * price_micro_per_kwh // 1000``: exact integer arithmetic,
rounded down (floor), which is exactly what the EVM's unsigned integer division does, so the ledger
contract and the market compute the same integer. Each amount is computed once and the same integer
is debited from the payer and credited to the payee, so settlement never creates or loses a
micro-unit. Where one integer total has to be split into parts (pro-rata fills, fees),
:func:`split_pro_rata` uses the largest-remainder method so the parts always add up to the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import numpy as np
import numpy.typing as npt

from gridledger.errors import UnitError

WH_PER_KWH = 1000
MICRO_PER_UNIT = 1_000_000

#: Largest energy of one order or trade [Wh] (100 MWh). Keeps energy x price inside int64.
MAX_ENERGY_WH = 10**8
#: Largest price [micro-units per kWh] (1,000 currency units per kWh).
MAX_PRICE_MICRO_PER_KWH = 10**9
#: Largest instantaneous power of one device [W] (100 MW).
MAX_POWER_W = 10**8


def _require_int(value: object, title: str) -> int:
    # bool is a subclass of int, and numpy integers are not; accept the latter, refuse the former.
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise UnitError(f"{title} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def validate_energy_wh(value: object, title: str = "energy_wh", *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int energy [Wh] in (0, MAX_ENERGY_WH], or raise :class:`UnitError`."""
    energy = _require_int(value, title)
    low = 0 if allow_zero else 1
    if not low <= energy <= MAX_ENERGY_WH:
        raise UnitError(
            f"{title} must be between {low} and {MAX_ENERGY_WH} Wh, got {energy}; "
            "energy is an integer number of watt-hours"
        )
    return energy


def validate_price_micro_per_kwh(value: object, title: str = "price_micro_per_kwh") -> int:
    """Return ``value`` as an int price [micro-units/kWh] in [0, MAX_PRICE_MICRO_PER_KWH]."""
    price = _require_int(value, title)
    if not 0 <= price <= MAX_PRICE_MICRO_PER_KWH:
        raise UnitError(
            f"{title} must be between 0 and {MAX_PRICE_MICRO_PER_KWH} micro-units per kWh, "
            f"got {price}"
        )
    return price


def validate_power_w(value: object, title: str = "power_w") -> int:
    """Return ``value`` as an int power [W] in [-MAX_POWER_W, MAX_POWER_W] (sign = direction)."""
    power = _require_int(value, title)
    if not -MAX_POWER_W <= power <= MAX_POWER_W:
        raise UnitError(f"{title} must be between -{MAX_POWER_W} and {MAX_POWER_W} W, got {power}")
    return power


def _exact_decimal(value: str | int | Decimal, title: str) -> Decimal:
    if isinstance(value, float):
        raise UnitError(
            f"{title}: pass a string or Decimal, not a float ({value!r}), to stay exact"
        )
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise UnitError(f"{title}: {value!r} is not a decimal number") from exc


def kwh_to_wh(kwh: str | int | Decimal) -> int:
    """Convert energy [kWh] given as exact decimal text to [Wh]; refuse fractions of a Wh."""
    wh = _exact_decimal(kwh, "kwh") * WH_PER_KWH
    if wh != wh.to_integral_value():
        raise UnitError(f"{kwh!r} kWh is not a whole number of watt-hours; round it first")
    return int(wh)


def wh_to_kwh(energy_wh: int) -> Decimal:
    """Convert energy [Wh] to an exact :class:`~decimal.Decimal` [kWh] (for display)."""
    return Decimal(_require_int(energy_wh, "energy_wh")) / WH_PER_KWH


def money_to_micro(amount: str | int | Decimal) -> int:
    """Convert an amount in currency units given as exact decimal text to micro-units."""
    micro = _exact_decimal(amount, "amount") * MICRO_PER_UNIT
    if micro != micro.to_integral_value():
        raise UnitError(f"{amount!r} has more than 6 decimals; micro-units are the smallest unit")
    return int(micro)


def micro_to_money(amount_micro: int) -> Decimal:
    """Convert micro-units to an exact :class:`~decimal.Decimal` amount in currency units."""
    return Decimal(_require_int(amount_micro, "amount_micro")) / MICRO_PER_UNIT


def price_per_kwh_to_micro(price: str | int | Decimal) -> int:
    """Convert a price [currency units/kWh] as decimal text to [micro-units/kWh]."""
    return money_to_micro(price)


def cost_micro(energy_wh: int, price_micro_per_kwh: int) -> int:
    """Amount [micro-units] for ``energy_wh`` [Wh] at ``price_micro_per_kwh``: the rounding rule.

    ``energy_wh * price_micro_per_kwh // 1000`` (floor), identical to the EVM's integer division.
    """
    if energy_wh < 0 or price_micro_per_kwh < 0:
        raise UnitError(
            f"cost_micro takes non-negative energy and price, got {energy_wh} Wh at "
            f"{price_micro_per_kwh} micro/kWh"
        )
    return energy_wh * price_micro_per_kwh // WH_PER_KWH


def cost_micro_array(
    energy_wh: npt.NDArray[np.int64], price_micro_per_kwh: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Vectorised :func:`cost_micro` over int64 arrays; the bounds above keep it inside int64."""
    return (energy_wh * price_micro_per_kwh) // WH_PER_KWH


def split_pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """Split the integer ``total`` in proportion to integer ``weights``; the parts sum to ``total``.

    Largest-remainder method: every part first gets ``floor(total * w / sum(w))``; the units left
    over go one each to the largest remainders, ties to the lower index. Deterministic, exact.
    """
    if total < 0:
        raise UnitError(f"split_pro_rata: total must be >= 0, got {total}")
    if any(w < 0 for w in weights):
        raise UnitError("split_pro_rata: weights must be >= 0")
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total:
            raise UnitError("split_pro_rata: cannot split a positive total over zero weights")
        return [0] * len(weights)
    parts = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def split_pro_rata_array(total: int, weights: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Vectorised :func:`split_pro_rata` (same result, same tie rule) for int64 ``weights``."""
    if total < 0 or (weights < 0).any():
        raise UnitError("split_pro_rata_array: total and weights must be >= 0")
    weight_sum = int(weights.sum())
    if weight_sum == 0:
        if total:
            raise UnitError("split_pro_rata_array: cannot split a positive total over zero weights")
        return np.zeros_like(weights)
    # total * w can exceed int64 for huge books; use Python ints via object arrays only then.
    if total * int(weights.max()) < 2**62:
        scaled = weights * total
        parts = scaled // weight_sum
        remainders = scaled % weight_sum
    else:
        obj = weights.astype(object) * total
        parts = (obj // weight_sum).astype(np.int64)
        # kept as Python ints: a float64 cast would tie distinct remainders above 2**53
        remainders = obj % weight_sum
    left = total - int(parts.sum())
    if left:
        # stable sort on -remainder keeps the lower index first among equal remainders
        order = np.argsort(-remainders, kind="stable")
        parts[order[:left]] += 1
    return parts
