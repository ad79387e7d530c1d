"""Reading scenario fields from parsed TOML: typed values, or a
:class:`~gridledger.errors.ScenarioError` that names the field (``regions[1].battery.share``) and
says what to write instead. :mod:`gridledger.sim.scenario` builds the scenario from these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from gridledger.errors import ScenarioError
from gridledger.sim.distributions import Distribution, parse_distribution


def read_table(value: object, field: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    """``value`` as a table whose keys are all in ``known``."""
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{field}: expected a table, got {value!r}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ScenarioError(
            f"{field}: unknown field {unknown[0]!r}; known fields: {', '.join(known)}"
        )
    return value


def read_int(
    table: Mapping[str, Any], key: str, field: str, default: int | None, low: int = 0
) -> int:
    """``table[key]`` (or ``default``; None: required) as an integer >= ``low``."""
    value = table.get(key, default)
    if value is None:
        raise ScenarioError(f"{field}.{key} is required (an integer >= {low})")
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ScenarioError(f"{field}.{key}: expected an integer >= {low}, got {value!r}")
    return value


def read_float(
    table: Mapping[str, Any], key: str, field: str, default: float, low: float, high: float
) -> float:
    """``table[key]`` (or ``default``) as a number in ``[low, high]``."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ScenarioError(
            f"{field}.{key}: expected a number in [{low:g}, {high:g}], got {value!r}"
        )
    return float(value)


def read_str(table: Mapping[str, Any], key: str, field: str, default: str | None) -> str:
    """``table[key]`` (or ``default``; None: required) as a non-empty string."""
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{field}.{key}: expected a non-empty string, got {value!r}")
    return value


def read_dist(
    table: Mapping[str, Any], key: str, field: str, default: object, low: float, high: float
) -> Distribution:
    """``table[key]`` (or ``default``) as a distribution of values in ``[low, high]``."""
    return parse_distribution(table.get(key, default), f"{field}.{key}", low, high)


def read_dates(value: object, field: str) -> tuple[date, ...]:
    """A list of local dates (TOML dates or ISO strings), sorted, without repeats."""
    if not isinstance(value, list):
        raise ScenarioError(
            f"{field}: expected a list of dates like [2026-12-25, 2026-12-26], got {value!r}"
        )
    days: list[date] = []
    for i, item in enumerate(value):
        day: date | None = None
        if isinstance(item, date) and not isinstance(item, datetime):
            day = item
        elif isinstance(item, str):
            try:
                day = date.fromisoformat(item)
            except ValueError:
                day = None
        if day is None:
            raise ScenarioError(
                f"{field}[{i}]: {item!r} is not a date; write local dates like 2026-12-25"
            )
        days.append(day)
    return tuple(sorted(set(days)))


def read_list(top: Mapping[str, Any], key: str) -> list[Any]:
    """``top[key]`` as an array of tables (empty when absent)."""
    value = top.get(key, [])
    if not isinstance(value, list):
        raise ScenarioError(f"{key}: expected an array of tables ([[{key}]]), got {value!r}")
    return value


def read_time(value: object, field: str, tz: ZoneInfo) -> datetime:
    """A TOML date or date-time, or an ISO string; a date is local midnight in ``tz``, a time
    without an offset local time in ``tz``."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tz)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ScenarioError(
                f"{field}: {value!r} is not a date or ISO 8601 time; write e.g. 2026-06-01"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    raise ScenarioError(f"{field}: expected a date like 2026-06-01, got {value!r}")
