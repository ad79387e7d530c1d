"""Persistence of a symptom over time, per site, carried from one chunk of slots to the next.

Every detector reduces its data to two boolean arrays ``(sites, steps)``: ``symptom`` (the rule's
condition holds) and ``evaluable`` (the step can say anything: daylight for PV, a reading present
for a register check...). A fault is raised when the symptom holds on ``need`` evaluable steps in a
row, and closed after ``clear_need`` evaluable steps without it; steps that are not evaluable
(night, a missing reading) neither extend nor break a run. :class:`RunTracker` computes these runs
with cumulative sums over the whole chunk (no Python loop over sites or steps) and keeps the run
lengths and start times of the last step, so feeding a series in chunks gives exactly the runs of
feeding it at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Runs:
    """Runs over one chunk, each ``(sites, steps)``.

    ``length``: evaluable symptom steps in the current run (0 after a clear step);
    ``start_s``: the run's first symptom step [s since the epoch] (NaN outside a run);
    ``clear``: evaluable steps without the symptom since the last symptom step.
    """

    length: IntArray
    start_s: FloatArray
    clear: IntArray


def _runs_of(
    hit: BoolArray, reset: BoolArray, carry_length: IntArray
) -> tuple[IntArray, IntArray, BoolArray]:
    """Length of the run of ``hit`` steps since the last ``reset`` step (others are skipped)."""
    counted = np.cumsum(hit, axis=1, dtype=np.int64)
    # count of hits at the last reset step; before the first reset, the carried run continues
    at_reset = np.where(reset, counted, np.iinfo(np.int64).min)
    last_reset = np.maximum.accumulate(at_reset, axis=1)
    before_any = last_reset == np.iinfo(np.int64).min
    length = np.where(before_any, counted + carry_length[:, None], counted - last_reset)
    return length, last_reset, before_any


class RunTracker:
    """Run lengths of one symptom for ``n_sites`` sites, advanced chunk by chunk."""

    def __init__(self, n_sites: int) -> None:
        self.length = np.zeros(n_sites, dtype=np.int64)
        self.clear = np.zeros(n_sites, dtype=np.int64)
        self.start_s = np.full(n_sites, np.nan)

    def advance(self, symptom: BoolArray, evaluable: BoolArray, times_s: FloatArray) -> Runs:
        """Advance over a chunk of ``steps`` whose start times [s] are ``times_s``."""
        hit = symptom & evaluable
        miss = evaluable & ~symptom
        length, _, _ = _runs_of(hit, miss, self.length)
        clear, _, _ = _runs_of(miss, hit, self.clear)
        steps = hit.shape[1]
        index = np.arange(steps)
        # a run starts at a hit step whose run length is 1; before any start, the carried start
        starts = hit & (length == 1)
        last_start = np.maximum.accumulate(np.where(starts, index, -1), axis=1)
        start_s = np.where(
            last_start >= 0, times_s[np.maximum(last_start, 0)], self.start_s[:, None]
        )
        start_s = np.where(length > 0, start_s, np.nan)
        if steps:
            self.length = length[:, -1].copy()
            self.clear = clear[:, -1].copy()
            self.start_s = start_s[:, -1].copy()
        return Runs(length, start_s, clear)


def crossings(runs: Runs, need: int) -> tuple[IntArray, IntArray]:
    """``(site, step)`` indices where a run reaches ``need`` steps (once per run)."""
    sites, steps = np.nonzero(runs.length == need)
    return sites.astype(np.int64), steps.astype(np.int64)


def clearings(runs: Runs, clear_need: int) -> tuple[IntArray, IntArray]:
    """``(site, step)`` indices where ``clear_need`` clear steps in a row are reached."""
    sites, steps = np.nonzero(runs.clear == clear_need)
    return sites.astype(np.int64), steps.astype(np.int64)


def rolling_sum(values: FloatArray, carry: FloatArray, window: int) -> FloatArray:
    """Trailing sum over ``window`` steps of ``values`` (NaN counts 0), ``carry`` the last
    ``window - 1`` steps of the previous chunk ``(sites, window - 1)``."""
    full = np.concatenate([carry, np.nan_to_num(values)], axis=1)
    csum = np.concatenate([np.zeros((full.shape[0], 1)), np.cumsum(full, axis=1)], axis=1)
    out: FloatArray = csum[:, window:] - csum[:, :-window]
    return out
