"""A region's simple low-voltage feeder, a power flow per slot with power-grid-model, and the
import-limit events the operator issues automatically when the forecast would overload it.

The feeder (:class:`FeederSpec`): a transformer from the medium-voltage source (node 0) to the
low-voltage busbar (node 1) of rating ``transformer_kva``, and lines between buses, each with
its resistance and reactance [ohm] and ampacity [A]; every household sits on one bus. The power
flow is power-grid-model's symmetric Newton-Raphson, run as one batch over all slots with each
household a constant-power load of its net import [W] (an export is a negative load), at unity
power factor. A slot is overloaded when the transformer or any line loads above 100 %.

:func:`limit_events` turns the overloaded slots of a forecast into OpenADR
``IMPORT_CAPACITY_LIMIT`` events: for each overloaded element and each run of consecutive
overloaded slots, one event targeted at the households downstream of the element, its value per
slot the largest common per-household import limit ``L`` with ``sum(min(import_i, L)) <=
rating x LIMIT_MARGIN`` (water-filling: households drawing less than ``L`` are not touched).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from power_grid_model import (
    BranchSide,
    CalculationMethod,
    ComponentType,
    DatasetType,
    LoadGenType,
    PowerGridModel,
    WindingType,
    initialize_array,
)

from gridledger.errors import ValidationError
from gridledger.operator.openadr import IMPORT_CAPACITY_LIMIT, Event, Interval, IntervalPeriod

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Share of an element's rating the automatic limits aim at.
LIMIT_MARGIN = 0.95
#: Nominal voltages [V].
MV_V = 10_000.0
LV_V = 400.0


@dataclass(frozen=True)
class FeederSpec:
    """A radial feeder: transformer rating [kVA]; lines ``line_from``/``line_to`` (bus numbers,
    1 is the busbar, buses count from 1), ``line_r_ohm``, ``line_x_ohm``, ``line_ampacity_a``;
    ``household_bus`` the bus of each household."""

    transformer_kva: float
    line_from: I64
    line_to: I64
    line_r_ohm: F64
    line_x_ohm: F64
    line_ampacity_a: F64
    household_bus: I64

    @property
    def buses(self) -> int:
        return int(max(self.line_to.max(initial=1), self.household_bus.max(initial=1)))


def radial_feeder(
    households: int,
    transformer_kva: float,
    *,
    feeders: int = 4,
    buses_per_feeder: int = 5,
    ampacity_a: float = 250.0,
    r_ohm: float = 0.02,
    x_ohm: float = 0.007,
) -> FeederSpec:
    """``feeders`` chains of ``buses_per_feeder`` buses from the busbar, each segment with the
    same impedance [ohm] and ampacity [A] (a 150 mm2 cable of about 100 m); households spread
    over the buses in turn."""
    if households < 1 or transformer_kva <= 0 or feeders < 1 or buses_per_feeder < 1:
        raise ValidationError("a feeder needs households >= 1, a rating > 0 and >= 1 bus")
    frm, to = [], []
    for f in range(feeders):
        prev = 1
        for b in range(buses_per_feeder):
            bus = 2 + f * buses_per_feeder + b
            frm.append(prev)
            to.append(bus)
            prev = bus
    m = len(frm)
    bus_of = 2 + np.arange(households, dtype=np.int64) % m
    return FeederSpec(
        transformer_kva, np.array(frm, np.int64), np.array(to, np.int64), np.full(m, r_ohm),
        np.full(m, x_ohm), np.full(m, ampacity_a), bus_of,
    )  # fmt: skip


@dataclass(frozen=True)
class FlowResult:
    """Loading of the transformer (slots,) and lines (slots, lines) [1.0 = rated]."""

    transformer_loading: F64
    line_loading: F64

    def overloaded(self) -> BoolArray:
        """Slots where the transformer or any line loads above its rating."""
        return (self.transformer_loading > 1.0) | (self.line_loading > 1.0).any(axis=1)


class Feeder:
    """A :class:`FeederSpec` as a power-grid-model model (built once, solved per batch)."""

    def __init__(self, spec: FeederSpec) -> None:
        self.spec = spec
        nb = spec.buses
        n = len(spec.household_bus)
        m = len(spec.line_from)
        node = initialize_array(DatasetType.input, ComponentType.node, nb + 1)
        node["id"] = np.arange(nb + 1)
        node["u_rated"] = [MV_V] + [LV_V] * nb
        source = initialize_array(DatasetType.input, ComponentType.source, 1)
        source["id"], source["node"], source["status"], source["u_ref"] = nb + 1, 0, 1, 1.0
        trafo = initialize_array(DatasetType.input, ComponentType.transformer, 1)
        sn = spec.transformer_kva * 1000.0
        for key, value in {
            "id": nb + 2, "from_node": 0, "to_node": 1, "from_status": 1, "to_status": 1,
            "u1": MV_V, "u2": LV_V, "sn": sn, "uk": 0.04, "pk": 0.01 * sn, "i0": 0.0, "p0": 0.0,
            "winding_from": WindingType.wye_n, "winding_to": WindingType.wye_n, "clock": 0,
            "tap_side": BranchSide.from_side, "tap_pos": 0, "tap_min": 0, "tap_max": 0,
            "tap_nom": 0, "tap_size": 0.0,
        }.items():  # fmt: skip
            trafo[key] = value
        line = initialize_array(DatasetType.input, ComponentType.line, m)
        self.line_ids = nb + 3 + np.arange(m)
        line["id"] = self.line_ids
        line["from_node"], line["to_node"] = spec.line_from, spec.line_to
        line["from_status"], line["to_status"] = 1, 1
        line["r1"], line["x1"], line["c1"], line["tan1"] = spec.line_r_ohm, spec.line_x_ohm, 0, 0
        line["i_n"] = spec.line_ampacity_a
        load = initialize_array(DatasetType.input, ComponentType.sym_load, n)
        self.load_ids = nb + 3 + m + np.arange(n)
        load["id"] = self.load_ids
        load["node"] = spec.household_bus
        load["status"] = 1
        load["type"] = LoadGenType.const_power
        load["p_specified"], load["q_specified"] = 0.0, 0.0
        self.model = PowerGridModel(
            {
                ComponentType.node: node,
                ComponentType.source: source,
                ComponentType.transformer: trafo,
                ComponentType.line: line,
                ComponentType.sym_load: load,
            }
        )
        self.downstream = self._downstream()

    def _downstream(self) -> BoolArray:
        """(1 + lines, households): households fed through the transformer and each line."""
        spec = self.spec
        parent = {int(t): int(f) for f, t in zip(spec.line_from, spec.line_to, strict=True)}
        line_of = {int(t): j for j, t in enumerate(spec.line_to)}
        out = np.zeros((1 + len(spec.line_from), len(spec.household_bus)), bool)
        out[0] = True
        for h, bus in enumerate(spec.household_bus.tolist()):
            while bus in parent:
                out[1 + line_of[bus], h] = True
                bus = parent[bus]
        return out

    def ratings_w(self) -> F64:
        """Rated power of the transformer and each line [W] (lines at the LV voltage)."""
        lines = np.sqrt(3.0) * LV_V * self.spec.line_ampacity_a
        return np.concatenate(([self.spec.transformer_kva * 1000.0], lines))

    def flow(self, net_import_w: F64 | I64) -> FlowResult:
        """Power flow of every slot: ``net_import_w`` (slots, households) [W]."""
        p = np.asarray(net_import_w, np.float64)
        if p.ndim != 2 or p.shape[1] != len(self.load_ids):
            raise ValidationError(f"power flow needs (slots, {len(self.load_ids)}) net imports")
        update = initialize_array(DatasetType.update, ComponentType.sym_load, p.shape)
        update["id"] = self.load_ids[None, :]
        update["p_specified"] = p
        update["q_specified"] = 0.0
        out = self.model.calculate_power_flow(
            update_data={ComponentType.sym_load: update},
            calculation_method=CalculationMethod.newton_raphson,
            output_component_types=[ComponentType.transformer, ComponentType.line],
        )
        return FlowResult(
            np.asarray(out[ComponentType.transformer]["loading"][:, 0], np.float64),
            np.asarray(out[ComponentType.line]["loading"], np.float64),
        )


def water_fill_limit(import_w: F64, allowed_w: float) -> float:
    """The largest ``L`` with ``sum(min(import_w, L)) <= allowed_w`` [W]; inf if no limit is
    needed, 0 if even ``L = 0`` is not enough (the rest is the element's other loads)."""
    x = np.sort(np.maximum(np.asarray(import_w, np.float64), 0.0))
    if x.sum() <= allowed_w:
        return float("inf")
    m = len(x)
    before = np.concatenate(([0.0], np.cumsum(x)[:-1]))
    candidate = (allowed_w - before) / (m - np.arange(m))
    ok = (candidate >= np.concatenate(([0.0], x[:-1]))) & (candidate <= x)
    hits = np.flatnonzero(ok)
    return float(candidate[hits[0]]) if len(hits) else 0.0


def limit_events(
    feeder: Feeder,
    flow: FlowResult,
    net_import_w: F64 | I64,
    start_s: int,
    slot_s: int,
    program_id: str,
    id_prefix: str,
) -> list[Event]:
    """Import-limit events for every overloaded element of a forecast (module docstring).

    ``net_import_w`` (slots, households) [W] is the forecast ``flow`` was solved on; slot 0
    starts at ``start_s`` (UTC epoch seconds). Targets name households by index."""
    p = np.asarray(net_import_w, np.float64)
    loading = np.concatenate((flow.transformer_loading[:, None], flow.line_loading), axis=1)
    ratings = feeder.ratings_w() * LIMIT_MARGIN
    events: list[Event] = []
    for element in range(loading.shape[1]):
        over = loading[:, element] > 1.0
        if not over.any():
            continue
        members = np.flatnonzero(feeder.downstream[element])
        edges = np.flatnonzero(np.diff(np.concatenate(([0], over.astype(np.int8), [0]))))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            values = []
            for t in range(int(a), int(b)):
                limit = water_fill_limit(p[t, members], float(ratings[element]))
                values.append(0 if limit == float("inf") else int(limit))
            start = datetime.fromtimestamp(start_s + int(a) * slot_s, UTC)
            intervals = tuple(
                Interval(i, {IMPORT_CAPACITY_LIMIT: [v / 1000]}) for i, v in enumerate(values)
            )
            events.append(
                Event(
                    f"{id_prefix}-{element}-{int(a)}",
                    program_id,
                    "feeder import limit",
                    IMPORT_CAPACITY_LIMIT,
                    IntervalPeriod(start, slot_s),
                    intervals,
                    tuple(str(int(h)) for h in members),
                    units="KW",
                )
            )
    return events
