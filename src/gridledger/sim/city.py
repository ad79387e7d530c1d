"""A generated city: households with PV, a home battery and a load, grouped in regions.

All sizes are integers in the project's units: peak PV power [W], battery capacity [Wh], battery
power limit [W], annual consumption [kWh]. Generation is seeded, so a city is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.identity import Signer


@dataclass(frozen=True)
class Region:
    """One region of the city: its name, coordinates [deg], local clock offset from UTC [h]
    (for load profiles) and household arrays."""

    name: str
    lat_deg: float
    lon_deg: float
    utc_offset_h: int
    pv_peak_w: npt.NDArray[np.int64]
    battery_capacity_wh: npt.NDArray[np.int64]
    battery_power_w: npt.NDArray[np.int64]
    annual_kwh: npt.NDArray[np.int64]
    keys: tuple[Signer, ...]

    @property
    def households(self) -> int:
        return len(self.annual_kwh)


@dataclass(frozen=True)
class City:
    name: str
    regions: tuple[Region, ...]

    @property
    def households(self) -> int:
        return sum(r.households for r in self.regions)


def generate_region(
    name: str,
    households: int,
    rng: np.random.Generator,
    lat_deg: float = 48.1,
    lon_deg: float = 11.6,
    utc_offset_h: int = 2,
) -> Region:
    """A region of ``households`` homes: ~60% with PV (3-10 kWp), half of those with storage."""
    has_pv = rng.random(households) < 0.6
    pv_peak_w = np.where(has_pv, rng.integers(3000, 10_001, households), 0).astype(np.int64)
    has_battery = has_pv & (rng.random(households) < 0.5)
    capacity = np.where(has_battery, rng.choice([5000, 7500, 10_000, 13_500], households), 0)
    power = np.where(has_battery, np.minimum(capacity // 2, 5000), 0)
    annual_kwh = rng.integers(1500, 6001, households).astype(np.int64)
    keys = tuple(Signer.from_hex(rng.bytes(32).hex()) for _ in range(households))
    return Region(
        name,
        lat_deg,
        lon_deg,
        utc_offset_h,
        pv_peak_w,
        capacity.astype(np.int64),
        power.astype(np.int64),
        annual_kwh,
        keys,
    )


def example_city(seed: int = 7, households_per_region: int = 40) -> City:
    """The built-in example: two regions of a mid-European city."""
    rng = np.random.default_rng(seed)
    return City(
        "example",
        (
            generate_region("north", households_per_region, rng, 48.2, 11.6),
            generate_region("south", households_per_region, rng, 48.0, 11.6),
        ),
    )
