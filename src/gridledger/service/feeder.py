"""The live feeder check: each slot the region operator runs a power flow on the forecast of the
next slots and, where the transformer or a line would be overloaded, issues an import-limit
event through the region's VTN, exactly as an operator's POST would.

A region of ``gridledger serve --feeder-kva KVA`` has the feeder the simulation study uses
(:func:`~gridledger.operator.feeder.radial_feeder`: the transformer of ``KVA`` and four chains of
five line segments, the simulated households spread over the buses in turn). Once per slot, when
the region's home controllers plan the open slot's orders, :meth:`LiveFeeder.check` forecasts
each household's net import [W] for :data:`FORECAST_SLOTS` slots from the open one (the
neighbourhood's PV and load forecast at each slot's middle, the one its ``plan`` uses, before
batteries and demand response: the feeder has to hold even when the batteries are empty), solves
them in one power-grid-model batch (:meth:`~gridledger.operator.feeder.Feeder.flow`), and turns
the overloaded slots into ``IMPORT_CAPACITY_LIMIT`` events
(:func:`~gridledger.operator.feeder.limit_events`: per overloaded element and run of slots, the
water-filled per-household limit) targeted at the element's downstream households by site id.

An event goes to :meth:`~gridledger.service.vtn.Vtn.create_event` as the region operator, so the
live VENs, alerts, reports, the events page and any OpenADR client see it as any other. No slot
is limited twice for the same households: the slots already covered by an automatic event
(:data:`EVENT_NAME`, the same targets; read back from the VTN, so this holds across restarts) are
left out of the next checks' events.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from gridledger.operator.feeder import Feeder, FlowResult, limit_events, radial_feeder
from gridledger.operator.openadr import IMPORT_CAPACITY_LIMIT, Event
from gridledger.service.access import Principal, Role
from gridledger.service.metrics import Metrics
from gridledger.service.neighbourhood import Neighbourhood
from gridledger.service.vtn import Vtn, default_program_id

log = logging.getLogger(__name__)

#: Slots ahead (the open one first) whose forecast each check solves.
FORECAST_SLOTS = 4
#: The name :func:`~gridledger.operator.feeder.limit_events` gives its events.
EVENT_NAME = "feeder import limit"


class LiveFeeder:
    """The feeder of ``region`` (``transformer_kva`` [kVA]) over ``hood``'s households, issuing
    events in ``vtn`` as the region's operator ``operator_address`` (module docstring)."""

    def __init__(
        self,
        region: str,
        hood: Neighbourhood,
        vtn: Vtn,
        metrics: Metrics,
        operator_address: str,
        transformer_kva: float,
    ) -> None:
        self.region = region
        self.hood = hood
        self.vtn = vtn
        self.metrics = metrics
        self.names = [s.site_id for s in hood.sites]
        self.feeder = Feeder(radial_feeder(len(self.names), transformer_kva))
        self.operator = Principal(
            operator_address, frozenset({Role.OPERATOR}), operator_regions=frozenset({region})
        )
        self._checked: int | None = None

    def forecast_w(self, first_slot_s: int, slot_s: int) -> npt.NDArray[np.int64]:
        """Net import [W] (:data:`FORECAST_SLOTS`, households) from slot ``first_slot_s`` on."""
        rows = []
        for k in range(FORECAST_SLOTS):
            mid_ms = (first_slot_s + k * slot_s + slot_s // 2) * 1000
            pv, load = self.hood.power_w(mid_ms)
            rows.append(load - pv)
        return np.stack(rows).astype(np.int64)

    def _covered(self, first_slot_s: int, slot_s: int) -> npt.NDArray[np.bool_]:
        """(slots, 1 + lines): whether an automatic event already limits each element's
        downstream households in each forecast slot."""
        targets = [
            tuple(self.names[h] for h in np.flatnonzero(row)) for row in self.feeder.downstream
        ]
        covered = np.zeros((FORECAST_SLOTS, len(targets)), bool)
        for event in self.vtn.events_of_region(self.region):
            if event.payload_type != IMPORT_CAPACITY_LIMIT or event.name != EVENT_NAME:
                continue
            for element, names in enumerate(targets):
                if tuple(event.targets) != names:
                    continue
                for k in range(len(event.intervals)):
                    t = (int(event.window(k).start.timestamp()) - first_slot_s) // slot_s
                    if 0 <= t < FORECAST_SLOTS:
                        covered[t, element] = True
        return covered

    def check(self, first_slot_s: int, slot_s: int) -> list[Event]:
        """Run the power flow on the forecast from ``first_slot_s`` (once per slot) and issue an
        event for each overload not covered yet; returns the events issued."""
        if self._checked == first_slot_s:
            return []
        self._checked = first_slot_s
        net = self.forecast_w(first_slot_s, slot_s)
        try:
            flow = self.feeder.flow(net)
        except RuntimeError as exc:  # power-grid-model's errors (e.g. no convergence): skip
            # this slot's check, not the region loop
            self.metrics.stage_errors.labels(self.region, "feeder").inc()
            log.error("region %s: the feeder's power flow failed: %s", self.region, exc)
            return []
        self.metrics.feeder_loading.labels(self.region).set(
            float(max(flow.transformer_loading.max(), flow.line_loading.max(initial=0.0)))
        )
        if not flow.overloaded().any():
            return []
        # an element already limited in a slot is not limited again (its loading counts as met)
        covered = self._covered(first_slot_s, slot_s)
        masked = FlowResult(
            np.where(covered[:, 0], 0.0, flow.transformer_loading),
            np.where(covered[:, 1:], 0.0, flow.line_loading),
        )
        program = default_program_id(self.region)
        issued = []
        for event in limit_events(self.feeder, masked, net, first_slot_s, slot_s, program, "x"):
            element = int(event.id.split("-")[1])  # limit_events names it PREFIX-ELEMENT-SLOT
            named = replace(event, id="", targets=tuple(self.names[int(h)] for h in event.targets))
            stored = self.vtn.create_event(self.operator, named.to_json())
            issued.append(stored)
            self.metrics.feeder_events.labels(self.region).inc()
            where = "the transformer" if element == 0 else f"line {element}"
            log.warning(
                "region %s: the feeder forecast overloads %s from %s for %d slot(s): import "
                "limit event %s for %d household(s), limits %s kW",
                self.region, where, event.period.start.isoformat(), len(event.intervals),
                stored.id, len(event.targets), event.values(),
            )  # fmt: skip
        return issued
