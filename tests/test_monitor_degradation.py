"""The degradation detector on synthetic daily indices: a known slope is found with its rate, a
healthy site and an orientation-wide drift are not, a step is left to under-performance."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridledger.monitor.faults import degradation
from gridledger.monitor.series import Fleet

SITES = 30
DAYS = 75


def fleet() -> Fleet:
    rng = np.random.default_rng(5)
    return Fleet.uniform(
        [f"s{i}" for i in range(SITES)],
        ["r0"] * SITES,
        tilt_deg=rng.uniform(15, 45, SITES),
        azimuth_deg=rng.uniform(120, 240, SITES),
    )


def healthy_index(f: Fleet, seed: int = 1) -> NDArray[np.float64]:
    """``(sites, days)``: each site's own level times 0.45 % independent daily noise."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.9, 1.0, SITES)[:, None]
    return level * (1.0 + 0.0045 * rng.standard_normal((SITES, DAYS)))


def first_fired(
    f: Fleet, index: NDArray[np.float64]
) -> tuple[NDArray[np.int64], list[dict[str, float]]]:
    """Per site the first day the symptom held (-1: never), and that day's evidence."""
    state = degradation.DegradationState(f)
    first = np.full(SITES, -1, dtype=np.int64)
    evidence: list[dict[str, float]] = [{} for _ in range(SITES)]
    sky = np.full(SITES, 0.9)
    for day in range(DAYS):
        s = state.advance(index[:, day], sky, np.ones(SITES, dtype=np.bool_))
        for site in np.nonzero((s.symptom & s.evaluable)[:, 0] & (first < 0))[0].tolist():
            first[site] = day
            evidence[site] = {k: float(v[site, 0]) for k, v in s.evidence.items()}
    return first, evidence


def test_one_percent_a_month_is_found_with_its_rate_and_healthy_sites_are_not() -> None:
    f = fleet()
    index = healthy_index(f)
    onset = 20
    days = np.arange(DAYS)
    index[3] *= 1.0 - 0.01 * np.maximum(0, days - onset) / 30.0  # 1 %/month from day 20
    first, evidence = first_fired(f, index)
    assert first[3] > onset and first[3] <= onset + 45
    assert 6.0 <= evidence[3]["trend_pct_per_year"] <= 25.0  # 12 %/year injected
    assert evidence[3]["trend_t"] >= degradation.T_MIN
    # the test's false-alarm rate is about 2 % per healthy site over 75 days (t >= 3, the
    # largest over every onset and day): at most one of 29 may fire
    assert (first[np.arange(SITES) != 3] >= 0).sum() <= 1


def test_a_drift_shared_by_arrays_of_one_orientation_is_not_degradation() -> None:
    f = fleet()
    index = healthy_index(f, seed=2)
    east = np.sin(np.radians(f.tilt_deg)) * np.sin(np.radians(f.azimuth_deg))
    # the model's error for east-facing arrays moves with the season: up to 30 %/year, more
    # than twice the 1 %/month a degrading module loses
    drift = 0.3 / 365.0 * np.arange(DAYS)[None, :] * (east[:, None] / np.abs(east).max())
    first, _ = first_fired(f, index * (1.0 - drift))
    assert (first >= 0).sum() <= 1


def test_the_common_mode_follows_the_orientation() -> None:
    f = fleet()
    features = degradation.orientation_features(f)
    rng = np.random.default_rng(4)
    shared = features @ np.array([0.01, 0.02, -0.005, 0.003])
    deviation = shared + 0.001 * rng.standard_normal(SITES)
    deviation[5] += 0.2  # one broken site does not move the fit (trimmed)
    fit, sigma = degradation.common_mode(deviation, features, f.region)
    assert np.abs(fit - shared).max() < 0.002
    assert sigma[0] == degradation.SIGMA_FLOOR  # 0.1 % noise: the floor


def test_a_step_is_not_a_slow_loss() -> None:
    f = fleet()
    index = healthy_index(f, seed=3)
    index[7, 30:] *= 0.7  # a string lost: under-performance, not degradation
    first, _ = first_fired(f, index)
    assert first[7] == -1
