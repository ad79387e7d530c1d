"""Expected PV output: pvlib per site, the region's sky from the neighbours."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from gridledger.monitor.expected import (
    index_from_power,
    leave_one_out_median,
    power_from_index,
    regional_clear_sky_index,
    sky_grid,
    sun_over,
)
from gridledger.monitor.series import Fleet

START = datetime(2026, 6, 1, tzinfo=UTC).timestamp()


def _fleet(n: int = 4, regions: tuple[str, ...] | None = None) -> Fleet:
    return Fleet.uniform(
        [f"s{i}" for i in range(n)],
        list(regions or ["a"] * n),
        peak_w=np.linspace(4_000, 8_000, n),
        tilt_deg=np.linspace(15, 45, n),
        azimuth_deg=np.linspace(120, 240, n),
    )


def test_leave_one_out_median_matches_the_definition() -> None:
    rng = np.random.default_rng(7)
    values = rng.random((9, 30))
    values[rng.random((9, 30)) < 0.25] = np.nan
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    out = leave_one_out_median(values, groups)
    for i in range(9):
        others = [j for j in range(9) if groups[j] == groups[i] and j != i]
        for c in range(30):
            col = values[others, c]
            col = col[~np.isnan(col)]
            assert (np.isnan(out[i, c]) and col.size == 0) or np.isclose(out[i, c], np.median(col))


def test_clear_sky_power_follows_the_sun_and_the_system() -> None:
    fleet = _fleet()
    sun = sun_over(fleet, START, 900, 96)
    grid = sky_grid(fleet, sun)
    clear = grid.clear_w
    noon = int(np.argmax(clear[0]))
    assert 9 * 4 <= noon <= 13 * 4  # around solar noon in UTC at 11.6 degrees east
    assert np.all(clear[:, :8] == 0)  # midnight to 02:00 UTC: night
    assert 0.6 * 4_000 < clear[0].max() < 1.0 * 4_000
    south = 1  # azimuth 160: in good light, more sky gives more power
    lit = clear[south] >= 0.3 * fleet.peak_w[south]
    assert np.all(np.diff(grid.power_w[south, lit], axis=1) >= -1e-9)


def test_index_and_power_invert_each_other() -> None:
    fleet = _fleet()
    grid = sky_grid(fleet, sun_over(fleet, START, 900, 96))
    index = np.full((4, 96), 0.45)
    power = power_from_index(grid, index)
    back = index_from_power(grid, power)
    day = grid.clear_w > 200
    judged = day & ~np.isnan(back)
    assert judged.sum() > 0.8 * day.sum()
    assert np.allclose(back[judged], 0.45, atol=1e-6)
    # a west-facing array in the morning sees more under a bright overcast sky than a clear one:
    # its power cannot tell the sky, so it does not vote
    falling = np.min(np.diff(grid.power_w, axis=2), axis=2) < -0.01 * grid.power_w.max(axis=2)
    assert falling[3].any() and np.all(np.isnan(back[falling]))


def test_a_broken_site_does_not_lower_its_own_reference() -> None:
    fleet = _fleet()
    grid = sky_grid(fleet, sun_over(fleet, START, 900, 96))
    own = np.where(grid.clear_w > 0, 0.7, 0.0)
    own[0] = 0.0  # site 0 produces nothing
    region = regional_clear_sky_index(own, grid.clear_w, fleet.region, fleet.peak_w)
    day = grid.clear_w[0] > 0.2 * fleet.peak_w[0]
    assert np.allclose(region[0, day], 0.7)
    assert np.all(region[1:, day] >= 0.7 - 1e-9)  # the median of the others ignores site 0


def test_a_site_without_neighbours_has_no_reference() -> None:
    fleet = _fleet(3, ("a", "a", "b"))
    grid = sky_grid(fleet, sun_over(fleet, START, 900, 96))
    own = np.where(grid.clear_w > 0, 0.9, 0.0)
    region = regional_clear_sky_index(own, grid.clear_w, fleet.region, fleet.peak_w)
    assert np.all(np.isnan(region[2]))
    day = grid.clear_w[0] > 0.2 * fleet.peak_w[0]
    assert np.allclose(region[0, day], 0.9)
