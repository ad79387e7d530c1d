from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridledger.errors import ScenarioError, ValidationError
from gridledger.sim.households import region_households
from gridledger.sim.scenario import load_scenario, parse_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "t", "regions": [{"name": "r", "households": 5}]}
    data.update(changes)
    return data


def test_the_examples_load_with_their_promised_sizes() -> None:
    street = load_scenario(EXAMPLES / "street.toml")
    assert street.households == 20 and len(street.regions) == 1
    district = load_scenario(EXAMPLES / "district.toml")
    assert district.households == 1000 and len(district.regions) >= 3
    assert district.slots == 365 * 96
    gsy = load_scenario(EXAMPLES / "gsy_street.toml")
    h = region_households(gsy, 0)
    assert len(h) == 10
    assert set(h.flat_load_w.tolist()) == {300}
    assert set(h.pv_w.tolist()) == {4000}
    assert set(h.capacity_wh.tolist()) == {5000}


def test_local_start_is_converted_to_utc() -> None:
    s = parse_scenario(
        minimal(place={"timezone": "Europe/Berlin"}, time={"start": "2026-06-15", "days": 2})
    )
    assert s.start.isoformat() == "2026-06-14T22:00:00+00:00"
    assert s.slots == 192


HALF = {"strategy": "price_based", "share": 0.5}
NOWHERE = {"name": "c", "region": "nowhere", "price_micro_per_kwh": 1, "capacity_wh": 1}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"place": {"timezone": "Mars/Olympus"}}, "place.timezone"),
        ({"time": {"slot_minutes": 7}}, "time.slot_minutes"),
        ({"time": {"days": 0}}, "time.days"),
        ({"market": {"clearing_rule": "vickrey"}}, "market.clearing_rule"),
        ({"tariff": {"retail_micro_per_kwh": 10}}, "tariff.retail_micro_per_kwh"),
        ({"regions": []}, "regions"),
        ({"regions": [{"name": "r"}]}, "regions[0].households is required"),
        ({"regions": [{"name": "r", "households": 2, "pv": {"kwp": [9, 3]}}]}, "regions[0].pv.kwp"),
        ({"regions": [{"name": "r", "households": 2, "battery": {"share": 2}}]}, "battery.share"),
        (
            {"regions": [{"name": "r", "households": 2, "strategies": [{"strategy": "x"}]}]},
            "regions[0].strategies[0].strategy",
        ),
        (
            {
                "regions": [
                    {
                        "name": "r",
                        "households": 2,
                        "strategies": [{"strategy": "price_based", "share": 0.5}],
                    }
                ]
            },
            "add up to 1",
        ),
        (
            {
                "companies": [
                    {"name": "c", "region": "nowhere", "price_micro_per_kwh": 1, "capacity_wh": 1}
                ]
            },
            "companies[0].region",
        ),
        (
            {"regions": [{"name": "r", "homes": [{"load_file": "missing.csv"}]}]},
            "regions[0].homes[0].load_file",
        ),
    ],
)
def test_bad_fields_are_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ScenarioError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(minimal(**changes))


def test_scenario_error_is_a_validation_error() -> None:
    assert issubclass(ScenarioError, ValidationError)


def test_draws_are_seeded_and_independent_per_field() -> None:
    base = minimal(seed=4, regions=[{"name": "r", "households": 200, "pv": {"share": 1.0}}])
    a = region_households(parse_scenario(base), 0)
    b = region_households(parse_scenario(base), 0)
    assert np.array_equal(a.pv_w, b.pv_w) and np.array_equal(a.annual_kwh, b.annual_kwh)
    changed = minimal(
        seed=4,
        regions=[{"name": "r", "households": 200, "pv": {"share": 1.0, "kwp": [1, 2]}}],
    )
    c = region_households(parse_scenario(changed), 0)
    assert np.array_equal(a.annual_kwh, c.annual_kwh)  # another field's draws are untouched
    assert c.pv_w.min() >= 1000 and c.pv_w.max() <= 2000


def test_explicit_home_replays_its_profile_file(tmp_path: Path) -> None:
    (tmp_path / "home.csv").write_text("energy_wh\n" + "\n".join(str(i) for i in range(96)))
    text = """
name = "replay"
[time]
days = 1
[[regions]]
name = "r"
[[regions.homes]]
load_file = "home.csv"
pv_kwp = 0
"""
    path = tmp_path / "s.toml"
    path.write_text(text)
    scenario = load_scenario(path)
    assert tomllib.loads(text)["regions"][0]["homes"][0]["load_file"] == "home.csv"
    from gridledger.sim.sources import field_profiles

    source = field_profiles(scenario, 0, region_households(scenario, 0))
    assert source.load_wh(10, 5)[:, 0].tolist() == [10, 11, 12, 13, 14]


def test_time_of_use_windows_wrap_past_midnight() -> None:
    s = parse_scenario(
        minimal(
            tariff={
                "time_of_use": [
                    {"from_hour": 22, "to_hour": 6, "retail_micro_per_kwh": 200_000},
                    {"from_hour": 17, "to_hour": 21, "retail_micro_per_kwh": 400_000},
                ]
            }
        )
    )
    prices = s.tariffs.retail_at(np.arange(24, dtype=np.int64)).tolist()
    assert prices[:6] == [200_000] * 6 and prices[22:] == [200_000] * 2
    assert prices[17:21] == [400_000] * 4
    assert prices[6:17] == [300_000] * 11 and prices[21] == 300_000
