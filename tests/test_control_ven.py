"""The VEN side: events to signals, targets, opt-outs of a program or one event, reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gridledger.control.flex_planner import UNLIMITED_WH
from gridledger.control.ven import VenFleet
from gridledger.errors import ValidationError
from gridledger.operator.openadr import (
    IntervalPeriod,
    Report,
    limit_event,
    price_event,
    shed_event,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
START = int(T0.timestamp())


def at(slot: int) -> datetime:
    return T0 + timedelta(minutes=15 * slot)


def test_events_become_signals_for_their_slots() -> None:
    fleet = VenFleet(3, "p", START, 900)
    events = [
        price_event("price", "p", at(2), 900, [380000, 380000]),
        shed_event("shed", "p", IntervalPeriod(at(4), 1800)),
        limit_event("lim", "p", IntervalPeriod(at(1), 900), 2000, targets=["2"]),
        shed_event("other", "another program", IntervalPeriod(at(0), 3600)),
    ]
    sig = fleet.signals(events, 0, 8, np.full(8, 300000))
    assert sig.price_micro.tolist() == [300000, 300000, 380000, 380000] + [300000] * 4
    assert sig.shed.tolist() == [[False] * 4 + [True, True, False, False]] * 3
    assert sig.limit_wh[2, 1] == 500  # 2 kW for 15 minutes
    assert sig.limit_wh[:2].min() == UNLIMITED_WH and sig.limit_wh[2, 2] == UNLIMITED_WH
    window = sig.window(3, 3)
    assert window.first == 3 and window.shed[0].tolist() == [False, True, True]


def test_an_opted_out_household_is_not_curtailed() -> None:
    fleet = VenFleet(4, "p", START, 900)
    fleet.opt_out(1)  # the whole program
    fleet.opt_out(2, "shed")  # one event
    events = [
        shed_event("shed", "p", IntervalPeriod(at(0), 3600)),
        limit_event("lim", "p", IntervalPeriod(at(0), 3600), 1000),
    ]
    sig = fleet.signals(events, 0, 4, np.full(4, 300000))
    assert sig.shed[:, 0].tolist() == [True, False, False, True]
    assert sig.limit_wh[:, 0].tolist() == [250, UNLIMITED_WH, 250, 250]
    assert fleet.following(events[0]).tolist() == [True, False, False, True]
    with pytest.raises(ValidationError):
        fleet.opt_out(4)


def test_a_report_carries_baseline_and_usage() -> None:
    fleet = VenFleet(2, "p", START, 900)
    event = shed_event("shed", "p", IntervalPeriod(at(4), 1800))
    report = fleet.report(event, 1, np.array([800, 900]), np.array([100, 0]), T0)
    assert report.event_id == "shed" and report.client_name == "1"
    assert report.period.start == at(4)
    assert Report.from_json(report.to_json()).usage_wh == (100, 0)
    with pytest.raises(ValidationError):
        fleet.report(event, 1, np.array([1]), np.array([1]), T0)
