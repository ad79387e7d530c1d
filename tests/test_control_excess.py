"""Excess-consumption alerts over arrays."""

from __future__ import annotations

import numpy as np
import pytest

from gridledger.control.excess import excess_consumption, usual_consumption
from gridledger.errors import ValidationError


def test_a_household_well_above_its_own_usual_is_alerted() -> None:
    spd, days = 4, 5
    c = np.tile(np.array([[200, 150, 1000]]), (spd * days, 1)).astype(np.int64)
    c[spd * 4 + 2, 0] = 600  # household 0: three times its usual in one slot of day 5
    c[spd * 4 + 2, 2] = 1200  # household 2: 20 % above its (high) usual: no alert
    c[1, 1] = 5000  # day 1 has no history: never an alert
    alerts = excess_consumption(c, spd)
    assert np.argwhere(alerts).tolist() == [[spd * 4 + 2, 0]]
    usual = usual_consumption(c, spd)
    assert (usual[:spd] == -1).all() and usual[spd * 4 + 2, 0] == 200


def test_the_usual_is_per_slot_of_the_day_and_robust_to_one_evening() -> None:
    spd = 2  # 4 days of a morning (50 Wh) and an evening (400 Wh) slot
    c = np.column_stack([np.array([50, 400] * 4), np.ones(8, np.int64)])
    c[3, 0] = 3000  # day 2's evening spike
    usual = usual_consumption(c, spd)
    assert usual[7, 0] == 400  # the lower median of 400, 3000, 400
    alerts = excess_consumption(c, spd)
    assert alerts[:, 0].tolist() == [False, False, False, True, False, False, False, False]


def test_bad_shapes_and_thresholds_are_refused() -> None:
    with pytest.raises(ValidationError):
        usual_consumption(np.zeros((5, 2), np.int64), 4)
    with pytest.raises(ValidationError):
        excess_consumption(np.zeros((4, 2), np.int64), 4, ratio_permille=900)
