"""Household parameter distributions of a scenario, and the seeded draws from them.

A scenario field that describes many households takes one of these TOML shapes:

* a number: every household gets it (``kwp = 4``);
* ``[low, high]``: uniform between the two (``kwp = [3, 10]``);
* ``{choices = [...], weights = [...]}``: one of the values, with optional weights;
* ``{mean = m, sd = s, min = a, max = b}``: a normal draw clipped to ``[min, max]``.

Draws come from a :class:`numpy.random.Generator` the caller seeds per (scenario seed, region,
field), so adding a field or a region does not change the others' draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.errors import ScenarioError

F64 = npt.NDArray[np.float64]

_SHAPES = (
    "a number, [low, high], {choices = [...], weights = [...]} or "
    "{mean = m, sd = s, min = a, max = b}"
)


@dataclass(frozen=True)
class Distribution:
    """One parameter's distribution: ``kind`` is constant, uniform, choice or normal."""

    kind: str
    values: tuple[float, ...]
    weights: tuple[float, ...] = ()

    def draw(self, rng: np.random.Generator, n: int) -> F64:
        """``n`` seeded draws [the parameter's unit]."""
        if self.kind == "constant":
            return np.full(n, self.values[0], np.float64)
        if self.kind == "uniform":
            return rng.uniform(self.values[0], self.values[1], n)
        if self.kind == "choice":
            p = np.array(self.weights) / sum(self.weights) if self.weights else None
            return np.asarray(rng.choice(np.array(self.values), n, p=p), np.float64)
        mean, sd, low, high = self.values
        return np.clip(rng.normal(mean, sd, n), low, high)

    @property
    def low(self) -> float:
        return (
            min(self.values[:2])
            if self.kind in ("uniform",)
            else (self.values[2] if self.kind == "normal" else min(self.values))
        )

    @property
    def high(self) -> float:
        return (
            max(self.values[:2])
            if self.kind in ("uniform",)
            else (self.values[3] if self.kind == "normal" else max(self.values))
        )


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{field}: expected a number, got {value!r}; write e.g. {field} = 4")
    return float(value)


def parse_distribution(
    value: object, field: str, low: float = float("-inf"), high: float = float("inf")
) -> Distribution:
    """Read one distribution from its TOML value; every value must lie in ``[low, high]``."""
    if isinstance(value, list):
        if len(value) != 2:
            raise ScenarioError(f"{field}: a range is [low, high] with two numbers, got {value!r}")
        a, b = (_number(v, field) for v in value)
        if a > b:
            raise ScenarioError(f"{field}: range [{a}, {b}] is reversed; write [{b}, {a}]")
        dist = Distribution("uniform", (a, b))
    elif isinstance(value, Mapping):
        if "choices" in value:
            unknown = set(value) - {"choices", "weights"}
            choices = value["choices"]
            if unknown or not isinstance(choices, list) or not choices:
                raise ScenarioError(
                    f"{field}: a choice is {{choices = [...], weights = [...]}} with a non-empty "
                    f"list of numbers, got {dict(value)!r}"
                )
            weights = value.get("weights", [])
            if not isinstance(weights, list) or (weights and len(weights) != len(choices)):
                raise ScenarioError(
                    f"{field}.weights: give one weight per choice ({len(choices)}), or none"
                )
            w = tuple(_number(x, f"{field}.weights") for x in weights)
            if w and (min(w) < 0 or sum(w) <= 0):
                raise ScenarioError(f"{field}.weights: weights must be >= 0 with a positive sum")
            dist = Distribution("choice", tuple(_number(c, field) for c in choices), w)
        elif "mean" in value:
            keys = ("mean", "sd", "min", "max")
            if set(value) != set(keys):
                raise ScenarioError(
                    f"{field}: a normal distribution needs exactly {{mean, sd, min, max}}, "
                    f"got keys {sorted(value)}"
                )
            mean, sd, a, b = (_number(value[k], f"{field}.{k}") for k in keys)
            if sd < 0 or a > b or not a <= mean <= b:
                raise ScenarioError(f"{field}: need sd >= 0 and min <= mean <= max")
            dist = Distribution("normal", (mean, sd, a, b))
        else:
            raise ScenarioError(f"{field}: expected {_SHAPES}, got {dict(value)!r}")
    else:
        dist = Distribution("constant", (_number(value, field),))
    if dist.low < low or dist.high > high:
        raise ScenarioError(
            f"{field}: values must lie in [{low:g}, {high:g}], got {dist.low:g}..{dist.high:g}"
        )
    return dist
