"""A market's rule set as a value, and the schedule of rule sets a region ran under.

A :class:`RuleSet` names everything that decides a slot's result: the clearing rule, the slot
length, the gate closure and the grid tariff (retail price, feed-in price, network fee). It is
recorded with every :class:`~gridledger.market.result.ClearingResult` (its hash is part of the
result's encoding), so an old slot can be re-cleared with exactly the rules it ran under. A region
whose rules change over time keeps a :class:`RuleSchedule`: rule sets keyed by the first slot they
apply to, like py-evm's table of VMs per block range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gridledger.errors import ConfigError, MarketError
from gridledger.identity import keccak
from gridledger.market.tariff import GridTariff
from gridledger.slots import DEFAULT_GATE_CLOSURE_S, DEFAULT_SLOT_MINUTES, SlotClock

#: Names of the clearing rules :mod:`gridledger.market.clearing` implements.
CLEARING_RULE_NAMES = ("pay_as_clear", "pay_as_bid")

#: Version of the rule-set encoding; bump it when :meth:`RuleSet.encode` changes.
RULESET_ENCODING_VERSION = 1


@dataclass(frozen=True)
class RuleSet:
    """The rules one market (region) clears a slot under.

    ``clearing_rule`` is one of :data:`CLEARING_RULE_NAMES`; ``slot_minutes`` [min] and
    ``gate_closure_s`` [s] define the slots (see :class:`~gridledger.slots.SlotClock`);
    ``tariff`` holds the grid's retail and feed-in prices and the network fee [micro-units/kWh].
    """

    clearing_rule: str = "pay_as_clear"
    slot_minutes: int = DEFAULT_SLOT_MINUTES
    gate_closure_s: int = DEFAULT_GATE_CLOSURE_S
    tariff: GridTariff = field(default_factory=GridTariff)

    def __post_init__(self) -> None:
        if self.clearing_rule not in CLEARING_RULE_NAMES:
            raise MarketError(
                f"unknown clearing rule {self.clearing_rule!r}; use one of "
                f"{', '.join(CLEARING_RULE_NAMES)}"
            )
        SlotClock(self.slot_minutes, self.gate_closure_s)  # validates both

    @property
    def clock(self) -> SlotClock:
        return SlotClock(self.slot_minutes, self.gate_closure_s)

    @property
    def grid_fee_micro_per_kwh(self) -> int:
        return self.tariff.grid_fee_micro_per_kwh

    def encode(self) -> bytes:
        """Canonical bytes: version, rule name, slot length, gate closure, the three prices."""
        name = self.clearing_rule.encode()
        return (
            RULESET_ENCODING_VERSION.to_bytes(2)
            + len(name).to_bytes(1)
            + name
            + self.slot_minutes.to_bytes(2)
            + self.gate_closure_s.to_bytes(4)
            + self.tariff.encode()
        )

    @cached_property
    def hash(self) -> bytes:
        """Keccak-256 of :meth:`encode` (32 bytes)."""
        return keccak(self.encode())

    def to_dict(self) -> dict[str, Any]:
        return {
            "clearing_rule": self.clearing_rule,
            "slot_minutes": self.slot_minutes,
            "gate_closure_s": self.gate_closure_s,
            **self.tariff.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSet:
        """Inverse of :meth:`to_dict`; missing keys take their defaults."""
        known = {"clearing_rule", "slot_minutes", "gate_closure_s", *GridTariff().to_dict()}
        unknown = set(data) - known
        if unknown:
            raise MarketError(f"unknown rule-set keys {sorted(unknown)}; known: {sorted(known)}")
        defaults = cls()
        return cls(
            clearing_rule=str(data.get("clearing_rule", defaults.clearing_rule)),
            slot_minutes=int(data.get("slot_minutes", defaults.slot_minutes)),
            gate_closure_s=int(data.get("gate_closure_s", defaults.gate_closure_s)),
            tariff=GridTariff.from_dict(data),
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clearing_rule: str = "pay_as_clear") -> RuleSet:
        """The rule set the settings describe (``slot_minutes``, ``gate_closure_s``, tariffs)."""
        try:
            return cls(
                clearing_rule=clearing_rule,
                slot_minutes=int(config["slot_minutes"]),
                gate_closure_s=int(config["gate_closure_s"]),
                tariff=GridTariff(
                    retail_price_micro_per_kwh=int(config["retail_price_micro_per_kwh"]),
                    feed_in_price_micro_per_kwh=int(config["feed_in_price_micro_per_kwh"]),
                    grid_fee_micro_per_kwh=int(config["grid_fee_micro_per_kwh"]),
                ),
            )
        except KeyError as exc:
            raise ConfigError(
                f"settings lack {exc.args[0]!r}, needed for the market rules"
            ) from None


@dataclass(frozen=True)
class RuleSchedule:
    """Rule sets of one region by the first slot start [Unix s] they apply to.

    ``entries`` are ``(first_slot_start_s, RuleSet)`` pairs in increasing order of start; the
    first entry's start is the earliest slot the region can clear.
    """

    entries: tuple[tuple[int, RuleSet], ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise MarketError("a rule schedule needs at least one (start_s, RuleSet) entry")
        starts = [start for start, _ in self.entries]
        if starts != sorted(set(starts)):
            raise MarketError(f"rule schedule starts must increase strictly, got {starts}")

    @classmethod
    def constant(cls, rules: RuleSet) -> RuleSchedule:
        """One rule set for every slot."""
        return cls(((0, rules),))

    def rules_at(self, slot_start_s: int) -> RuleSet:
        """The rule set in force for the slot starting at ``slot_start_s``."""
        current: RuleSet | None = None
        for start, rules in self.entries:
            if start > slot_start_s:
                break
            current = rules
        if current is None:
            raise MarketError(
                f"no rule set applies to slot start {slot_start_s}; the schedule begins at "
                f"{self.entries[0][0]}"
            )
        return current
