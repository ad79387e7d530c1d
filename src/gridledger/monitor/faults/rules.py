"""From symptom arrays to faults: persistence, raising, extending and closing.

A :class:`Rule` says which fault a symptom means (kind, device channel), how long it must persist
(``need`` evaluable steps) and how long it must be absent before the fault closes
(``clear_need``), how severe it is and how to explain it from its evidence. :class:`RuleRunner`
applies a rule to one chunk: it advances the rule's
:class:`~gridledger.monitor.faults.runs.RunTracker` over all sites at once and turns the few
crossings and clearings into :class:`Fault` values in a :class:`FaultBook`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from gridledger.monitor.faults.model import Fault, FaultBook, FaultKind, Severity
from gridledger.monitor.faults.runs import RunTracker, clearings, crossings
from gridledger.monitor.series import Fleet

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

Evidence = Mapping[str, float]


@dataclass(frozen=True)
class Rule:
    """A fault kind on one device channel (``None`` = the site), with its persistence."""

    kind: FaultKind
    channel: str | None
    need: int
    clear_need: int
    severity: Callable[[Evidence], Severity]
    explain: Callable[[Evidence], str]


@dataclass(frozen=True)
class Symptom:
    """A detector's verdict over a chunk: ``symptom`` and ``evaluable`` ``(sites, steps)``, and
    the arrays whose values at the firing step become the fault's evidence."""

    symptom: BoolArray
    evaluable: BoolArray
    evidence: Mapping[str, FloatArray]


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), tz=UTC)


def _evidence(symptom: Symptom, site: int, step: int, run_steps: int) -> dict[str, float]:
    out = {name: float(values[site, step]) for name, values in symptom.evidence.items()}
    out["persisted_steps"] = float(run_steps)
    return {k: round(v, 4) for k, v in out.items() if np.isfinite(v)}


class RuleRunner:
    """One rule's state over a fleet: its run tracker and the last symptom step per site."""

    def __init__(self, rule: Rule, fleet: Fleet) -> None:
        self.rule = rule
        self.fleet = fleet
        self.tracker = RunTracker(fleet.n_sites)
        self.last_hit_s = np.full(fleet.n_sites, np.nan)

    def device(self, site: int) -> str:
        if self.rule.channel is None:
            return self.fleet.site_ids[site]
        return self.fleet.device_ids[self.rule.channel][site]

    def key(self, site: int) -> tuple[str, str, FaultKind]:
        return (self.fleet.site_ids[site], self.device(site), self.rule.kind)

    def apply(
        self, book: FaultBook, symptom: Symptom, times_s: FloatArray, step_s: float
    ) -> list[Fault]:
        """Advance over a chunk whose steps start at ``times_s`` and last ``step_s`` [s].

        Returns the faults raised in this chunk. A fault is raised at the end of the step its
        run reaches ``need``; it closes at the end of the step its clear run reaches
        ``clear_need``.
        """
        rule = self.rule
        runs = self.tracker.advance(symptom.symptom, symptom.evaluable, times_s)
        hit = symptom.symptom & symptom.evaluable
        steps = hit.shape[1]
        index = np.arange(steps)
        last_hit = np.maximum.accumulate(np.where(hit, index, -1), axis=1)
        last_hit_s = np.where(
            last_hit >= 0, times_s[np.maximum(last_hit, 0)], self.last_hit_s[:, None]
        )
        events: list[tuple[int, int, int]] = []  # (step, order, site): a close before a raise
        for s, t in zip(*crossings(runs, rule.need), strict=True):
            events.append((int(t), 1, int(s)))
        for s, t in zip(*clearings(runs, rule.clear_need), strict=True):
            events.append((int(t), 0, int(s)))
        raised: list[Fault] = []
        for t, order, s in sorted(events):
            s, t = int(s), int(t)
            key = self.key(s)
            end = _time(times_s[t] + step_s)
            if order == 0:
                if np.isfinite(last_hit_s[s, t]):
                    book.extend(key, _time(last_hit_s[s, t]))
                book.close(key, end)
                continue
            evidence = _evidence(symptom, s, t, rule.need)
            fault = Fault(
                site=key[0],
                device=key[1],
                kind=rule.kind,
                severity=rule.severity(evidence),
                first_seen=_time(runs.start_s[s, t]),
                last_seen=_time(times_s[t]),
                raised_at=end,
                evidence=evidence,
                explanation=rule.explain(evidence),
            )
            if not book.is_active(key):
                raised.append(fault)
            book.raise_or_extend(fault)
        if steps:
            self.last_hit_s = last_hit_s[:, -1].copy()
            # extend every active fault of this rule to its last symptom step in the chunk
            touched = np.nonzero(hit.any(axis=1))[0]
            for site in touched.tolist():
                s = int(site)
                key = self.key(s)
                if book.is_active(key):
                    t = int(last_hit[s, -1])
                    length = int(runs.length[s, t])
                    book.extend(key, _time(self.last_hit_s[s]), _evidence(symptom, s, t, length))
        return raised
