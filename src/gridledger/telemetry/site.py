"""A site: the devices of one household behind one grid connection, and their owner.

:meth:`Site.step` runs the household's energy balance for one time step: PV and fuel cell produce,
the load and the EV consume, the accumulator absorbs surplus or covers deficit (in ``AUTO`` mode,
within its limits and reserve) and the BEC meters what is left as grid import or export.
:meth:`Site.readings` returns one signed reading per device with the topic to publish it on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from gridledger.devices.models import (
    Accumulator,
    BidirectionalCounter,
    Device,
    EVCharger,
    FuelCell,
    HouseholdLoad,
    SolarMeter,
)
from gridledger.devices.topics import topic
from gridledger.identity import Domain, Signer
from gridledger.store import Store


@dataclass(eq=False)
class Site:
    """One household: ``site_id`` in ``region``, owned by ``owner`` (who signs its commands)."""

    site_id: str
    region: str
    owner: Signer = field(repr=False)
    devices: list[Device] = field(default_factory=list)

    @classmethod
    def household(
        cls,
        site_id: str,
        region: str,
        owner: Signer | None = None,
        *,
        pv_peak_w: int = 5_000,
        battery_wh: int = 10_000,
        ev: bool = False,
        fuel_cell: bool = False,
    ) -> Site:
        """A typical household: PV meter, accumulator, load and BEC (optional EV and fuel cell)."""
        owner = owner or Signer.generate()
        site = cls(site_id, region, owner)
        site.add(SolarMeter, "pv", peak_w=pv_peak_w)
        site.add(
            Accumulator,
            "battery",
            owner=owner.address_bytes,
            capacity_wh=battery_wh,
            soc_init=500,
        )
        site.add(HouseholdLoad, "load")
        if ev:
            site.add(EVCharger, "ev")
        if fuel_cell:
            site.add(FuelCell, "fc")
        site.add(BidirectionalCounter, "bec")
        return site

    def add(
        self, model: type[Device], name: str, signer: Signer | None = None, **params: object
    ) -> Device:
        """Add a device of class ``model`` with id ``<site_id>-<name>`` and its own new key."""
        soc_init = params.pop("soc_init", None)
        device = model(
            signer or Signer.generate(),
            self.region,
            self.site_id,
            f"{self.site_id}-{name}",
            **params,  # type: ignore[arg-type]
        )
        if isinstance(device, Accumulator) and isinstance(soc_init, int):
            device.soc_permille = soc_init
        self.devices.append(device)
        return device

    def find(self, model: type[Device]) -> Device | None:
        return next((d for d in self.devices if isinstance(d, model)), None)

    def step(
        self, pv_w: int, load_w: int, dt_ms: int, ev_w: int = 0, fuel_cell_w: int = 0,
        battery_w: int | None = None,
    ) -> int:  # fmt: skip
        """Run the energy balance for ``dt_ms``; returns the grid import [W] (negative = export).

        The accumulator follows the household balance (self-consumption) unless the home
        controller gives a set-point ``battery_w`` [W, positive charge, negative discharge]."""
        balance = 0  # surplus [W]: production minus consumption on the household bus
        for device in self.devices:
            if isinstance(device, SolarMeter):
                balance += device.produce(pv_w, dt_ms)
            elif isinstance(device, FuelCell):
                balance += device.produce(fuel_cell_w, dt_ms)
            elif isinstance(device, HouseholdLoad):
                balance -= device.consume(load_w, dt_ms)
            elif isinstance(device, EVCharger):
                balance -= device.charge(ev_w, dt_ms)
        for device in self.devices:
            if isinstance(device, Accumulator):
                balance -= device.dispatch(balance if battery_w is None else battery_w, dt_ms)
        grid_w = -balance
        for device in self.devices:
            if isinstance(device, BidirectionalCounter):
                device.exchange(grid_w, dt_ms)
        return grid_w

    def register(self, store: Store, registered_at_ms: int = 0) -> None:
        """Register the region, this site and its devices (with their addresses) in ``store``."""
        from gridledger import store as st

        store.add_region(st.Region(self.region))
        store.add_site(
            st.Site(self.site_id, self.region, self.owner.address_bytes, registered_at_ms)
        )
        for device in self.devices:
            store.add_device(
                st.Device(
                    device.device_id,
                    self.site_id,
                    device.kind.store_name,
                    device.address,
                    registered_at_ms,
                    device.params(),
                )
            )

    def readings(self, timestamp_ms: int, domain: Domain) -> Iterator[tuple[str, bytes]]:
        """One signed reading per device, as ``(topic, payload)``."""
        for device in self.devices:
            yield (
                topic(self.region, self.site_id, device.device_id, "readings"),
                device.signed_reading(timestamp_ms, domain),
            )


def make_sites(count: int, region: str, seed: int = 0, first: int = 0) -> list[Site]:
    """Households ``<region>-<first>``... with deterministic keys (for tests and benchmarks)."""
    import random

    rng = random.Random(seed)

    def key() -> Signer:
        return Signer(rng.randbytes(32))

    sites = []
    for i in range(first, first + count):
        site = Site(f"{region}-{i:04d}", region, key())
        site.add(SolarMeter, "pv", key(), peak_w=4000 + 1000 * (i % 4))
        site.add(
            Accumulator,
            "battery",
            key(),
            owner=site.owner.address_bytes,
            capacity_wh=10_000,
            soc_init=500,
        )
        site.add(HouseholdLoad, "load", key())
        site.add(BidirectionalCounter, "bec", key())
        sites.append(site)
    return sites


def traffic(
    sites: list[Site], steps: int, start_ms: int, step_ms: int, domain: Domain
) -> list[tuple[str, bytes]]:
    """Signed readings of every device of ``sites`` for ``steps`` time steps, in time order.

    A deterministic sunny-day pattern drives PV and load, so registers move and batteries cycle.
    """
    out: list[tuple[str, bytes]] = []
    for k in range(steps):
        for n, site in enumerate(sites):
            pv_w = max(0, 4000 - abs((k + n) % 96 - 48) * 100)
            load_w = 300 + 50 * ((k * 7 + n) % 20)
            site.step(pv_w, load_w, step_ms)
            out.extend(site.readings(start_ms + k * step_ms, domain))
    return out
