"""Scoring detected faults against injected ones: precision, recall and detection delay per kind.

A detection matches an injected fault of the same kind on the same device when they overlap in
time (the detection may run :data:`MATCH_GRACE` past the injected end: daily rules close a day or
two after the symptom goes). Outages are scored only when they were observable (some daylight),
and their delay counts daylight hours, as the issue states its target ("within 2 hours of
daylight").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from gridledger.monitor.faults import Fault, FaultKind
from gridledger.sim.faults import District, InjectedFault


@dataclass(frozen=True)
class KindScore:
    """Precision, recall and mean detection delay of one fault kind."""

    kind: str
    injected: int
    detected: int
    true_positives: int
    false_positives: int
    found: int
    mean_delay_h: float | None

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.detected if self.detected else None

    @property
    def recall(self) -> float | None:
        return self.found / self.injected if self.injected else None


#: A detection may run this long past the injected fault's end and still match it (daily rules
#: close a day after the symptom goes).
MATCH_GRACE = timedelta(days=2)


def daylight_hours(district: District, fault: InjectedFault, until: datetime) -> float:
    """Hours of daylight (clear-sky power >= 10 % of peak) from ``fault.start`` to ``until``:
    an outage's detection delay as the issue counts it ("within 2 hours of daylight")."""
    fleet, tel = district.fleet, district.telemetry
    site = fleet.site_ids.index(fault.site)
    a = int((fault.start - tel.start).total_seconds() // tel.slot_s)
    b = int((until - tel.start).total_seconds() // tel.slot_s)
    lit = district.clear_w[site, a:b] >= 0.1 * fleet.peak_w[site]
    return float(lit.sum()) * tel.slot_s / 3600.0


def daylight_onset(district: District, fault: InjectedFault, min_fraction: float = 0.1) -> datetime:
    """The first slot at or after ``fault.start`` whose clear-sky power reaches ``min_fraction``
    of the site's peak: when an outage can first be seen."""
    fleet, slot_s = district.fleet, district.telemetry.slot_s
    site = fleet.site_ids.index(fault.site)
    first = int((fault.start - district.telemetry.start).total_seconds() // slot_s)
    lit = district.clear_w[site, first:] >= min_fraction * fleet.peak_w[site]
    offset = int(np.argmax(lit)) if lit.any() else 0
    return district.telemetry.start + timedelta(seconds=(first + offset) * slot_s)


def observable(district: District, fault: InjectedFault, min_slots: int = 3) -> bool:
    """Whether an injected fault could be seen at all: an outage needs at least ``min_slots``
    slots of daylight (clear-sky power >= 10 % of peak), a stuck meter more than ``min_slots``
    slots in which its device's real registers moved (``params["moving_slots"]``). Other kinds
    are always observable."""
    if fault.kind == str(FaultKind.STUCK_REGISTER):
        # a meter frozen while its device carried nothing reports the truth
        return fault.params.get("moving_slots", float(min_slots + 1)) > min_slots
    if fault.kind != str(FaultKind.OUTAGE):
        return True
    fleet, tel = district.fleet, district.telemetry
    site = fleet.site_ids.index(fault.site)
    a = int((fault.start - tel.start).total_seconds() // tel.slot_s)
    b = int((fault.end - tel.start).total_seconds() // tel.slot_s)
    lit = district.clear_w[site, a:b] >= 0.1 * fleet.peak_w[site]
    return int(lit.sum()) >= min_slots


def score(
    detected: list[Fault], truth: list[InjectedFault], district: District | None = None
) -> dict[str, KindScore]:
    """Match detections to injected faults of the same kind and device, overlapping in time.

    A detection is a true positive when it overlaps an injected fault (``[start, end +
    MATCH_GRACE]``); an injected fault is found when any detection matches it. The delay runs from
    the injected start to the first matching detection's ``raised_at`` (for outages, given
    ``district``: the daylight hours in between, :func:`daylight_hours`). With ``district``, outages
    that were not :func:`observable` are left out of the truth.
    """
    if district is not None:
        truth = [f for f in truth if observable(district, f)]
    kinds = sorted({f.kind for f in truth} | {str(d.kind) for d in detected})
    by_key: dict[tuple[str, str], list[InjectedFault]] = {}
    for f in truth:
        by_key.setdefault((f.device, f.kind), []).append(f)
    out: dict[str, KindScore] = {}
    for kind in kinds:
        dets = [d for d in detected if str(d.kind) == kind]
        injected = [f for f in truth if f.kind == kind]
        first_match: dict[int, datetime] = {}
        tp = 0
        for d in dets:
            hit = False
            for f in by_key.get((d.device, kind), []):
                if d.first_seen <= f.end + MATCH_GRACE and max(d.last_seen, d.raised_at) >= f.start:
                    hit = True
                    key = id(f)
                    first_match[key] = min(first_match.get(key, d.raised_at), d.raised_at)
            tp += hit
        delays = []
        for f in injected:
            if id(f) in first_match:
                if kind == str(FaultKind.OUTAGE) and district is not None:
                    delays.append(daylight_hours(district, f, first_match[id(f)]))
                    continue
                delays.append(max((first_match[id(f)] - f.start).total_seconds(), 0.0) / 3600.0)
        out[kind] = KindScore(
            kind,
            len(injected),
            len(dets),
            tp,
            len(dets) - tp,
            sum(id(f) in first_match for f in injected),
            float(np.mean(delays)) if delays else None,
        )
    return out
