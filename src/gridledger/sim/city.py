"""A generated city: households with PV, a home battery and a load, grouped in regions.

All sizes are integers in the project's units: peak PV power [W], battery capacity [Wh], battery
power limit [W], annual consumption [kWh]. Generation is seeded, so a city is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.identity import Signer, keccak


@dataclass(frozen=True)
class Company:
    """A registered energy company that buys stored energy in one region.

    Each slot it posts a signed buy offer of ``capacity_wh`` [Wh] at ``price_micro_per_kwh``
    [micro-units/kWh, network fee included, as every bid]; a share ``seller_share`` [0..1] of the
    households with a battery address their surplus to it whenever its price (less the fee) meets
    their ask limit.
    """

    name: str
    key: Signer
    capacity_wh: int
    price_micro_per_kwh: int
    seller_share: float


def example_company(region: str) -> Company:
    """The example city's utility in ``region``: 4 kWh per slot at 0.14 per kWh all-in.

    Its key is derived from the region name (public: for development chains only).
    """
    key = Signer(keccak(b"gridledger example company " + region.encode()))
    return Company(f"{region} utility", key, 4_000, 140_000, 0.5)


@dataclass(frozen=True)
class RegionHouseholds:
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
    company: Company | None = None

    @property
    def households(self) -> int:
        return len(self.annual_kwh)


@dataclass(frozen=True)
class City:
    name: str
    regions: tuple[RegionHouseholds, ...]

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
    company: Company | None = None,
) -> RegionHouseholds:
    """A region of ``households`` homes: ~60% with PV (3-10 kWp), half of those with storage;
    ``company`` buys stored energy there."""
    has_pv = rng.random(households) < 0.6
    pv_peak_w = np.where(has_pv, rng.integers(3000, 10_001, households), 0).astype(np.int64)
    has_battery = has_pv & (rng.random(households) < 0.5)
    capacity = np.where(has_battery, rng.choice([5000, 7500, 10_000, 13_500], households), 0)
    power = np.where(has_battery, np.minimum(capacity // 2, 5000), 0)
    annual_kwh = rng.integers(1500, 6001, households).astype(np.int64)
    keys = tuple(Signer.from_hex(rng.bytes(32).hex()) for _ in range(households))
    return RegionHouseholds(
        name,
        lat_deg,
        lon_deg,
        utc_offset_h,
        pv_peak_w,
        capacity.astype(np.int64),
        power.astype(np.int64),
        annual_kwh,
        keys,
        company,
    )


def example_city(seed: int = 7, households_per_region: int = 40) -> City:
    """The built-in example: two regions of a mid-European city, each with an energy company."""
    rng = np.random.default_rng(seed)
    return City(
        "example",
        (
            generate_region(
                "north", households_per_region, rng, 48.2, 11.6, company=example_company("north")
            ),
            generate_region(
                "south", households_per_region, rng, 48.0, 11.6, company=example_company("south")
            ),
        ),
    )
