"""The feeder: power flow per slot with power-grid-model, overloads, automatic import limits."""

from __future__ import annotations

import numpy as np
import pytest

from gridledger.errors import ValidationError
from gridledger.operator.feeder import (
    LIMIT_MARGIN,
    Feeder,
    limit_events,
    radial_feeder,
    water_fill_limit,
)


def test_transformer_loading_follows_the_load() -> None:
    feeder = Feeder(radial_feeder(40, 100.0))
    p = np.array([np.full(40, 1000.0), np.full(40, 2000.0), np.full(40, 3000.0)])
    flow = feeder.flow(p)
    # 40, 80, 120 kW through a 100 kVA transformer (plus small line losses)
    assert flow.transformer_loading[0] == pytest.approx(0.40, rel=0.05)
    assert flow.transformer_loading[1] == pytest.approx(0.80, rel=0.05)
    assert flow.overloaded().tolist() == [False, False, True]
    # exports load the transformer too (reverse flow)
    assert feeder.flow(-p[:1]).transformer_loading[0] == pytest.approx(0.40, rel=0.05)


def test_a_line_overload_is_found_and_targets_only_its_households() -> None:
    spec = radial_feeder(8, 1000.0, feeders=2, buses_per_feeder=1, ampacity_a=50.0)
    feeder = Feeder(spec)
    p = np.zeros((2, 8))
    on_first = spec.household_bus == spec.line_to[0]
    p[1, on_first] = 10_000.0  # 40 kW on a 50 A line (about 35 kW at 400 V)
    flow = feeder.flow(p)
    assert flow.overloaded().tolist() == [False, True]
    assert flow.transformer_loading[1] < 1.0
    events = limit_events(feeder, flow, p, 0, 900, "prog", "t")
    assert len(events) == 1
    assert set(events[0].targets) == {str(i) for i in np.flatnonzero(on_first)}
    assert events[0].period.start.timestamp() == 900


def test_limits_bring_the_feeder_within_its_rating() -> None:
    feeder = Feeder(radial_feeder(60, 150.0))
    rng = np.random.default_rng(3)
    p = rng.uniform(500.0, 6000.0, (6, 60))
    flow = feeder.flow(p)
    assert flow.overloaded().any()
    events = limit_events(feeder, flow, p, 0, 900, "prog", "t")
    limited = p.copy()
    for event in events:
        slot = int(event.period.start.timestamp()) // 900
        who = np.array([int(t) for t in event.targets])
        for i, value in enumerate(event.values()):
            limited[slot + i, who] = np.minimum(limited[slot + i, who], float(value) * 1000)
    assert not feeder.flow(limited).overloaded().any()


def test_water_fill_limit() -> None:
    x = np.array([100.0, 200.0, 300.0])
    assert water_fill_limit(x, 600.0) == float("inf")
    assert water_fill_limit(x, 450.0) == pytest.approx(175.0)  # 100 + 175 + 175
    assert water_fill_limit(x, 250.0) == pytest.approx(250.0 / 3)
    assert np.minimum(x, water_fill_limit(x, 450.0)).sum() == pytest.approx(450.0)
    assert 0 < LIMIT_MARGIN < 1


def test_bad_feeders_and_shapes_are_refused() -> None:
    with pytest.raises(ValidationError):
        radial_feeder(0, 100.0)
    with pytest.raises(ValidationError):
        Feeder(radial_feeder(4, 100.0)).flow(np.zeros((2, 5)))
