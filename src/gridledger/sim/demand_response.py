"""Demand response over one region of a scenario: households with EVs and water heaters react
to the operator's OpenADR events, and the operator keeps the feeder within its limits.

A run (:func:`run_region_dr`) takes the region's households and profiles from the scenario's
profile source (the same the region runner uses), its batteries as a
:class:`~gridledger.control.battery.BatteryBank`, and adds flexible devices:

* every EV household's daily charge becomes a session (:func:`~gridledger.control.flexible.
  ev_charging`) from its arrival (:data:`~gridledger.sim.fast_profiles.EV_ARRIVAL_HOUR`)
  to its departure next morning, needing the energy the source's uncontrolled charging draws;
* a share of households has a water heater (:func:`~gridledger.control.flexible.shiftable_load`)
  that must reheat its tank between the evening and the next morning.

Without events (``events`` None) every device runs as soon as it can (today's behaviour, and the
source's EV profile exactly). With events, each household's VEN (:class:`~gridledger.control.
ven.VenFleet`) reads them and the :class:`~gridledger.control.flex_planner.FlexPlanner` plans
its devices each slot; an opted-out household runs as without events. The battery then serves
the residual as in the region runner (self-consumption). Bills here are the grid's: import at the
slot's retail price, export at the feed-in price (floor per slot, micro-units); the local market
is left out of this study, so bills compare like with like between runs.

:func:`study` runs the comparison the benchmark prints: the run without events, the run with
price and load-shed events (an evening window each day), and, with a feeder, rounds in which the
operator solves the power flow on the forecast (the previous round's outcome: a perfect
forecast) and adds import-limit events where the transformer or a line would overload, until
none would or a round changes nothing (what remains is inflexible or opted-out load).
Everything is vectorised over households; the only loop is over slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from gridledger.control.battery import BatteryBank
from gridledger.control.flex_planner import FlexPlanner
from gridledger.control.flexible import DeadlineLoads, ev_charging, shiftable_load
from gridledger.control.ven import VenFleet
from gridledger.errors import ScenarioError
from gridledger.operator.feeder import Feeder, FeederSpec, limit_events, radial_feeder
from gridledger.operator.openadr import Event, IntervalPeriod, Report, price_event, shed_event
from gridledger.sim import counter_rng
from gridledger.sim.fast_profiles import EV_ARRIVAL_HOUR, hand_rolled
from gridledger.sim.households import region_households
from gridledger.sim.scenario import Scenario
from gridledger.sim.sources import ProfileFactory, SlotTimes

I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The region operator's program id.
PROGRAM_ID = "gridledger-dr"


@dataclass(frozen=True)
class DrSetup:
    """What the study adds to a scenario's region.

    ``days`` limits the run to the scenario's first days; EVs leave at ``ev_departure_hour``
    local; a ``heater_share`` of households has a water heater of ``heater_power_w`` [W] that
    needs ``heater_wh`` [Wh] between ``heater_from_hour`` and ``heater_to_hour`` (next day);
    the operator's load-shed window is ``shed_from_hour`` to ``shed_to_hour`` local each day;
    ``transformer_kva`` None: no feeder model; ``opt_out`` households opted out of the program;
    ``horizon_slots`` the planner's horizon; ``limit_rounds`` power-flow rounds at most."""

    days: int | None = None
    ev_departure_hour: int = 7
    heater_share: float = 0.3
    heater_power_w: int = 2000
    heater_wh: int = 3000
    heater_from_hour: int = 20
    heater_to_hour: int = 6
    shed_from_hour: int = 17
    shed_to_hour: int = 21
    transformer_kva: float | None = None
    opt_out: tuple[int, ...] = ()
    horizon_slots: int = 96
    limit_rounds: int = 6


@dataclass
class DrRun:
    """One run's outcome: per slot and household [Wh] ``import_wh``, ``export_wh``,
    ``ev_wh``, ``heater_wh``; per household ``bill_micro``; device ``misses`` (sessions short
    at departure)."""

    import_wh: I64
    export_wh: I64
    ev_wh: I64
    heater_wh: I64
    bill_micro: I64
    ev_misses: int
    heater_misses: int
    slot_s: int

    @property
    def region_import_w(self) -> I64:
        """The region's net import at the transformer per slot [W]."""
        net = (self.import_wh - self.export_wh).sum(axis=1)
        return np.asarray(np.maximum(net, 0) * 3600 // self.slot_s, np.int64)

    @property
    def net_import_w(self) -> I64:
        """Each household's net import per slot [W] (the power flow's loads)."""
        return (self.import_wh - self.export_wh) * 3600 // self.slot_s


@dataclass
class _Region:
    """A region's profiles and calendar over the run, shared by its runs."""

    scenario: Scenario
    index: int
    setup: DrSetup
    slots: int
    measured: int
    slot_s: int
    start_s: int
    pv: I64
    load: I64
    ev: I64
    retail: I64
    slot_of_day: I64
    local_hour: I64
    local_minute: I64
    households: int
    capacity_wh: I64
    power_w: I64
    ev_power_w: I64
    bank_args: dict[str, I64] = field(default_factory=dict)


def _prepare(scenario: Scenario, index: int, setup: DrSetup, profiles: ProfileFactory) -> _Region:
    h = region_households(scenario, index)
    spd = 1440 // scenario.slot_minutes
    measured = scenario.slots if setup.days is None else min(scenario.slots, setup.days * spd)
    if measured < 1:
        raise ScenarioError("demand response needs at least one slot; raise days")
    # one more day where the scenario has it, so the last evening's sessions end naturally
    slots = min(scenario.slots, measured + spd)
    source = profiles(scenario, index, h)
    times = SlotTimes(scenario)
    local = times.local(0, slots)
    hour = np.asarray(local.hour, np.int64)
    minute = np.asarray(local.minute, np.int64)
    return _Region(
        scenario, index, setup, slots, measured, scenario.slot_minutes * 60, times.start_s,
        source.pv_wh(0, slots), source.load_wh(0, slots), source.ev_wh(0, slots),
        scenario.tariffs.retail_at(hour).astype(np.int64),
        (hour * 60 + minute) // scenario.slot_minutes, hour, minute, len(h), h.capacity_wh,
        h.power_w, h.ev_power_w,
        {"initial_soc_permille": h.initial_soc_permille, "reserve_permille": h.reserve_permille,
         "efficiency_permille": h.efficiency_permille},
    )  # fmt: skip


def _hours_until(from_hour: int, to_hour: int) -> int:
    return (to_hour - from_hour) % 24 or 24


@dataclass(frozen=True)
class _Opening:
    """Sessions of one device opening at one slot."""

    device: int
    households: I64
    departure: int
    needed_wh: I64


def _devices(r: _Region) -> tuple[list[DeadlineLoads], dict[int, list[_Opening]]]:
    """The EV chargers and water heaters (device 0 and 1) and the sessions opening per slot."""
    s = r.setup
    hours = r.slot_s / 3600
    spd = 86400 // r.slot_s
    ev_dev = ev_charging(np.where(r.ev.any(axis=0), r.ev_power_w, 0).astype(np.int64), hours)
    pick = counter_rng.uniform(r.scenario.seed, r.index, 41, np.arange(r.households))
    has_heater = pick < s.heater_share
    heater = shiftable_load(np.where(has_heater, s.heater_power_w, 0).astype(np.int64), hours)
    opening: dict[int, list[_Opening]] = {}
    on_the_hour = r.local_minute == 0
    for k in np.flatnonzero(on_the_hour & (r.local_hour == EV_ARRIVAL_HOUR)).tolist():
        dep = min(k + _hours_until(EV_ARRIVAL_HOUR, s.ev_departure_hour) * spd // 24, r.slots)
        need = r.ev[k:dep].sum(axis=0)
        who = np.flatnonzero(need > 0)
        opening.setdefault(k, []).append(_Opening(0, who, dep, need[who]))
    heater_ids = np.flatnonzero(has_heater)
    for k in np.flatnonzero(on_the_hour & (r.local_hour == s.heater_from_hour)).tolist():
        dep = min(k + _hours_until(s.heater_from_hour, s.heater_to_hour) * spd // 24, r.slots)
        need = np.minimum(s.heater_wh, heater.limit_wh[heater_ids] * (dep - k))
        opening.setdefault(k, []).append(_Opening(1, heater_ids, dep, need))
    return [ev_dev, heater], opening


def run_region_dr(
    scenario: Scenario,
    index: int,
    setup: DrSetup,
    events: Sequence[Event] | None,
    profiles: ProfileFactory = hand_rolled,
    region: _Region | None = None,
) -> DrRun:
    """One run of ``scenario.regions[index]`` with ``events`` (None: no demand response)."""
    r = region if region is not None else _prepare(scenario, index, setup, profiles)
    n, slots = r.households, r.slots
    devices, opening = _devices(r)
    bank = BatteryBank.of(r.capacity_wh, r.power_w, **r.bank_args)
    feed_in = scenario.tariffs.feed_in_micro_per_kwh
    spd = 86400 // r.slot_s
    planner = None
    fleet = VenFleet(n, PROGRAM_ID, r.start_s, r.slot_s)
    for h in setup.opt_out:
        fleet.opt_out(h)
    follows = ~fleet.program_opt_out
    if events is not None:
        signals = fleet.signals(events, 0, slots, r.retail)
        words = counter_rng.hash_words(
            scenario.seed, index, 43, np.arange(n)[:, None], np.arange(spd)[None, :]
        )
        ties = (words >> np.uint64(54)).astype(np.int64)  # [0, TIE)
        planner = FlexPlanner(devices, ties, setup.horizon_slots)
    inflexible = (r.load - r.pv).T.copy()
    out = {k: np.zeros((slots, n), np.int64) for k in ("imp", "exp", "ev", "heater")}
    bill = np.zeros(n, np.int64)
    hours = r.slot_s / 3600
    for k in range(slots):
        for dev in devices:
            dev.close_due(k)
        for o in opening.get(k, ()):
            m = len(o.households)
            devices[o.device].open(
                o.households, np.full(m, k), np.full(m, o.departure), o.needed_wh
            )
        flex = FlexPlanner.asap(devices, k)
        if planner is not None:
            horizon = min(setup.horizon_slots, slots - k)
            planned = planner.step(
                k, int(r.slot_of_day[k]), signals, inflexible[:, k : k + horizon], feed_in,
                horizon,
            )  # fmt: skip
            flex = [np.where(follows, p, a) for p, a in zip(planned, flex, strict=True)]
        for dev, wh in zip(devices, flex, strict=True):
            dev.deliver(k, wh)
        consumption = r.load[k] + flex[0] + flex[1]
        _, _, residual = bank.dispatch(r.pv[k] - consumption, hours)
        imp = np.maximum(-residual, 0)
        exp = np.maximum(residual, 0)
        if k < r.measured:
            bill += imp * int(r.retail[k]) // 1000 - exp * feed_in // 1000
        out["imp"][k], out["exp"][k], out["ev"][k], out["heater"][k] = imp, exp, flex[0], flex[1]
    for dev in devices:
        dev.close_due(slots)
    m = r.measured
    return DrRun(
        out["imp"][:m], out["exp"][:m], out["ev"][:m], out["heater"][:m], bill,
        int(devices[0].misses.sum()),
        int(devices[1].misses.sum()), r.slot_s,
    )  # fmt: skip


def program_events(r: _Region) -> list[Event]:
    """The operator's program: the retail price per slot as one ``PRICE`` event per day, and a
    load-shed event over the evening window of each day."""
    s = r.setup
    spd = 86400 // r.slot_s
    events: list[Event] = []
    starts = np.flatnonzero((r.local_minute == 0) & (r.local_hour == 0)).tolist()
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    for d, k in enumerate(starts):
        count = min(spd, r.slots - k)
        start = datetime.fromtimestamp(r.start_s + k * r.slot_s, UTC)
        events.append(
            price_event(f"price-{d}", PROGRAM_ID, start, r.slot_s, r.retail[k : k + count].tolist())
        )
    for k in np.flatnonzero((r.local_minute == 0) & (r.local_hour == s.shed_from_hour)).tolist():
        duration = _hours_until(s.shed_from_hour, s.shed_to_hour) * 3600
        start = datetime.fromtimestamp(r.start_s + k * r.slot_s, UTC)
        events.append(shed_event(f"shed-{k}", PROGRAM_ID, IntervalPeriod(start, duration)))
    return events


def event_slots(events: Sequence[Event], start_s: int, slot_s: int, slots: int) -> BoolArray:
    """Slots covered by any load-shed or import-limit event."""
    mask = np.zeros(slots, bool)
    for e in events:
        if e.payload_type == "PRICE":
            continue
        first = e.window(0)
        last = e.window(len(e.intervals) - 1)
        a = (int(first.start.timestamp()) - start_s) // slot_s
        b = -(-(int(last.end.timestamp()) - start_s) // slot_s)
        mask[max(a, 0) : max(min(b, slots), 0)] = True
    return mask


@dataclass
class DrStudy:
    """The comparison of :func:`study`: runs without events, with the program's events, and
    with the feeder's automatic import limits; ``events`` the final event list and
    ``in_events`` the slots they cover; overload slots of each run (empty without feeder)."""

    without: DrRun
    program: DrRun
    final: DrRun
    events: list[Event]
    in_events: BoolArray
    overload_without: BoolArray
    overload_program: BoolArray
    overload_final: BoolArray
    limit_rounds: int
    slot_s: int
    fleet: VenFleet
    feeder: FeederSpec | None = None

    @property
    def peak_import_reduction(self) -> float:
        """1 - peak import in event windows with events / without events."""
        before = int(self.without.region_import_w[self.in_events].max(initial=0))
        after = int(self.final.region_import_w[self.in_events].max(initial=0))
        return 1.0 - after / before if before else 0.0

    @property
    def bill_increases(self) -> int:
        """Households whose bill with events exceeds their bill without."""
        return int((self.final.bill_micro > self.without.bill_micro).sum())

    def overload_hours(self, mask: BoolArray) -> float:
        return float(mask.sum()) * self.slot_s / 3600

    def reports(self, event: Event, opt_out: Sequence[int] = ()) -> list[Report]:
        """Each following household's OpenADR report on ``event``: its import per event slot
        without events (the baseline) and with them (the usage) [Wh]."""
        fleet = VenFleet(self.fleet.n, PROGRAM_ID, self.fleet.start_s, self.slot_s)
        for h in opt_out:
            fleet.opt_out(h)
        slots = len(self.final.import_wh)
        window = np.flatnonzero(event_slots([event], fleet.start_s, self.slot_s, slots))
        if len(window) == 0:
            return []
        created = datetime.fromtimestamp(fleet.start_s + int(window[-1] + 1) * self.slot_s, UTC)
        return [
            fleet.report(
                event,
                int(h),
                self.without.import_wh[window, h],
                self.final.import_wh[window, h],
                created,
            )
            for h in np.flatnonzero(fleet.following(event))
        ]


def study(
    scenario: Scenario, index: int, setup: DrSetup, profiles: ProfileFactory = hand_rolled
) -> DrStudy:
    """Run the comparison (see the module docstring)."""
    r = _prepare(scenario, index, setup, profiles)
    without = run_region_dr(scenario, index, setup, None, region=r)
    events = program_events(r)
    program = run_region_dr(scenario, index, setup, events, region=r)
    final = program
    empty = np.zeros(r.measured, bool)
    over_without, over_program, over_final = empty, empty, empty
    rounds = 0
    spec = None
    if setup.transformer_kva is not None:
        spec = radial_feeder(r.households, setup.transformer_kva)
        feeder = Feeder(spec)
        over_without = feeder.flow(without.net_import_w).overloaded()
        flow = feeder.flow(program.net_import_w)
        over_program = over_final = flow.overloaded()
        while over_final.any() and rounds < setup.limit_rounds:
            rounds += 1
            events = events + limit_events(
                feeder, flow, final.net_import_w, r.start_s, r.slot_s, PROGRAM_ID, f"limit{rounds}"
            )
            previous = final
            final = run_region_dr(scenario, index, setup, events, region=r)
            flow = feeder.flow(final.net_import_w)
            over_final = flow.overloaded()
            if np.array_equal(final.net_import_w, previous.net_import_w):
                break  # the followers have no flexible energy left there (opt-outs, base load)
    return DrStudy(
        without, program, final, events, event_slots(events, r.start_s, r.slot_s, r.measured),
        over_without, over_program, over_final, rounds, r.slot_s,
        VenFleet(r.households, PROGRAM_ID, r.start_s, r.slot_s), spec,
    )  # fmt: skip


__all__ = [
    "PROGRAM_ID",
    "DrRun",
    "DrSetup",
    "DrStudy",
    "event_slots",
    "program_events",
    "run_region_dr",
    "study",
]  # fmt: skip
