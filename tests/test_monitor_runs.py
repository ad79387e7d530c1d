"""Run lengths of symptoms across chunks (gridledger.monitor.faults.runs)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gridledger.monitor.faults.runs import RunTracker, clearings, crossings, rolling_sum


def _naive(symptom: np.ndarray, evaluable: np.ndarray) -> list[int]:
    run, out = 0, []
    for s, e in zip(symptom, evaluable, strict=True):
        if e:
            run = run + 1 if s else 0
        out.append(run)
    return out


def test_steps_that_cannot_be_judged_neither_extend_nor_break_a_run() -> None:
    symptom = np.array([[True, False, True, True, False, True]])
    evaluable = np.array([[True, False, True, False, True, True]])
    runs = RunTracker(1).advance(symptom, evaluable, np.arange(6.0))
    assert runs.length[0].tolist() == [1, 1, 2, 2, 0, 1]
    assert runs.clear[0].tolist() == [0, 0, 0, 0, 1, 0]
    assert runs.start_s[0, 3] == 0.0  # the run that began at step 0 goes on through step 3


def test_a_crossing_is_reported_once_per_run() -> None:
    symptom = np.array([[True, True, True, True, False, True, True]])
    runs = RunTracker(1).advance(symptom, np.ones_like(symptom), np.arange(7.0))
    assert crossings(runs, 2)[1].tolist() == [1, 6]
    assert clearings(runs, 1)[1].tolist() == [4]


@given(
    st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60),
    st.integers(1, 7),
)
def test_chunked_runs_equal_one_pass(steps: list[tuple[bool, bool]], chunk: int) -> None:
    symptom = np.array([[s for s, _ in steps]])
    evaluable = np.array([[e for _, e in steps]])
    times = np.arange(len(steps), dtype=np.float64)
    whole = RunTracker(1).advance(symptom, evaluable, times)
    tracker = RunTracker(1)
    parts = [
        tracker.advance(
            symptom[:, a : a + chunk], evaluable[:, a : a + chunk], times[a : a + chunk]
        )
        for a in range(0, len(steps), chunk)
    ]
    assert np.concatenate([p.length for p in parts], axis=1).tolist() == whole.length.tolist()
    assert whole.length[0].tolist() == _naive(symptom[0], evaluable[0])
    starts = np.concatenate([p.start_s for p in parts], axis=1)
    assert np.array_equal(starts, whole.start_s, equal_nan=True)


def test_rolling_sum_continues_across_chunks() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 50))
    values[0, 5] = np.nan
    window = 7
    expected = np.array(
        [[np.nansum(row[max(0, t - window + 1) : t + 1]) for t in range(50)] for row in values]
    )
    carry = np.zeros((3, window - 1))
    out = []
    for a in range(0, 50, 11):
        part = values[:, a : a + 11]
        out.append(rolling_sum(part, carry, window))
        carry = np.concatenate([carry, np.nan_to_num(part)], axis=1)[:, -(window - 1) :]
    assert np.allclose(np.concatenate(out, axis=1), expected)
