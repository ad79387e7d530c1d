"""The region operator's OpenADR 3.0.1 VTN: programs, events, reports, VENs, client credentials.

The objects are :mod:`gridledger.operator.openadr` values; this module keeps them per region,
decides who may see and change what (through :func:`~gridledger.service.access.authorize`, the
one policy), and issues the OAuth 2 client-credentials the spec's VENs and business logic (BL)
use. The HTTP shape is :mod:`gridledger.api.vtn`.

* A **program** belongs to one region (its ``REGION`` target); every region starts with
  :func:`default_program_id`. An **event** belongs to its program's region. A **report** is a
  VEN's, named by its ``clientName`` (the VEN name: the household's site id).
* The **BL** is the region's operator (a signed-in session, or client credentials the operator
  created); the **VENs** are the households' sites (a household session covers all its sites;
  client credentials one site).
* A VEN sees the events of its regions' programs that target it or everyone, with the targets
  trimmed to its own name (another VEN's name is not its business).
* **Opt-outs** (a site out of a program, or out of one event) are kept here too, so the live
  VENs (:mod:`gridledger.service.demand_response`) and the API read one record.

Durable: every change is appended to the JSON-lines :class:`~gridledger.service.journal.Journal`
``serve-openadr.jsonl`` in the data dir and replayed (and compacted) on open; access tokens are
not (they expire within :data:`TOKEN_TTL_S`; a VEN asks for a new one).
Times are the platform clock's (simulated time under ``--speed``), aware UTC.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from gridledger.errors import ValidationError
from gridledger.operator.openadr import Event, Program, Report, parse_object
from gridledger.service.access import (
    Action,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    Principal,
    Role,
    authorize,
)
from gridledger.service.journal import Journal
from gridledger.service.queries import Queries

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The VTN's journal in the data dir.
JOURNAL = "serve-openadr.jsonl"
#: Lifetime of an access token [wall s].
TOKEN_TTL_S = 3600
#: Most objects one list answer holds (the spec's ``limit``).
MAX_LIMIT = 50


def default_program_id(region: str) -> str:
    """The id of the program every region starts with."""
    return f"{region}-dr"


@dataclass(frozen=True)
class Credential:
    """A client of the VTN: ``client_id``, the SHA-256 of its secret, its region, the VEN's
    site (``None`` for the BL) and the account it acts for (the site owner or the operator)."""

    client_id: str
    secret_sha256: str
    region: str
    site_id: str | None
    address: str


@dataclass(frozen=True)
class Issued:
    """Fresh client credentials (the secret is shown once)."""

    client_id: str
    client_secret: str
    region: str
    ven_name: str | None


EventListener = Callable[[str, Event], None]


class Vtn:
    """The VTN of every region of the platform (module docstring). ``now`` gives the platform
    clock's time; ``sites_of_region`` the region's site ids (the VENs)."""

    def __init__(
        self,
        journal: Journal,
        now: Callable[[], datetime],
        sites_of_region: Callable[[str], list[str]],
    ) -> None:
        self.journal = journal
        self.now = now
        self.sites_of_region = sites_of_region
        self._lock = threading.RLock()
        self.programs: dict[str, Program] = {}
        self.events: dict[str, Event] = {}
        self.reports: dict[str, Report] = {}
        self.credentials: dict[str, Credential] = {}
        self._tokens: dict[str, tuple[float, str]] = {}
        #: (region, site) -> programs it opted out of; (event id, site) pairs opted out
        self.program_opt_outs: set[tuple[str, str]] = set()
        self.event_opt_outs: set[tuple[str, str]] = set()
        self.listeners: list[EventListener] = []

    @classmethod
    def open(
        cls, data_dir: Path, now: Callable[[], datetime], queries: Queries, regions: list[str]
    ) -> Vtn:
        """The VTN of ``regions`` from its journal :data:`JOURNAL` in ``data_dir``, each
        region's default program created if missing; its VENs are the regions' sites."""

        def sites(region: str) -> list[str]:
            return [s.site_id for s in queries.sites(region)]

        vtn = cls(Journal(data_dir / JOURNAL), now, sites)
        vtn.replay()
        for name in regions:
            vtn.ensure_program(name)
        return vtn

    # --- durability ------------------------------------------------------------------------------

    def replay(self) -> None:
        """Load the journal and rewrite it compacted (one entry per live object)."""
        for e in self.journal.entries():
            op = e.get("op")
            if op == "put":
                try:
                    self._put(parse_object(str(e["kind"]), e["doc"]))
                except ValidationError as exc:  # accepted once: say why it cannot come back
                    log.warning("OpenADR journal entry not replayed: %s", exc)
            elif op == "delete":
                self._forget(str(e["kind"]), str(e["id"]))
            elif op == "cred":
                c = Credential(e["client_id"], e["hash"], e["region"], e["site"], e["address"])
                self._drop_site_credentials(c)
                self.credentials[c.client_id] = c
            elif op == "optout":
                key = (str(e["scope"]), str(e["site"]))
                target = self.program_opt_outs if e["what"] == "program" else self.event_opt_outs
                (target.add if e["out"] else target.discard)(key)
        self.journal.rewrite(self._snapshot())

    def _snapshot(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind, objects in (
            ("PROGRAM", self.programs), ("EVENT", self.events), ("REPORT", self.reports),
        ):  # fmt: skip
            out += [{"op": "put", "kind": kind, "doc": o.to_json()} for o in objects.values()]
        out += [
            {"op": "cred", "client_id": c.client_id, "hash": c.secret_sha256, "region": c.region,
             "site": c.site_id, "address": c.address}
            for c in self.credentials.values()
        ]  # fmt: skip
        out += [
            {"op": "optout", "what": "program", "scope": p, "site": s, "out": True}
            for p, s in sorted(self.program_opt_outs)
        ]
        out += [
            {"op": "optout", "what": "event", "scope": ev, "site": s, "out": True}
            for ev, s in sorted(self.event_opt_outs)
        ]
        return out

    def _put(self, obj: Program | Event | Report) -> None:
        if isinstance(obj, Program):
            self.programs[obj.id] = obj
        elif isinstance(obj, Event):
            self.events[obj.id] = obj
        else:
            self.reports[obj.id] = obj

    def _record(self, obj: Program | Event | Report) -> None:
        kind = {Program: "PROGRAM", Event: "EVENT", Report: "REPORT"}[type(obj)]
        self.journal.append({"op": "put", "kind": kind, "doc": obj.to_json()})
        self._put(obj)

    def ensure_program(self, region: str) -> Program:
        """The region's default program (created on first open)."""
        pid = default_program_id(region)
        with self._lock:
            found = self.programs.get(pid)
            if found is None:
                found = Program(
                    pid, pid, f"Demand response of region {region}", "gridledger",
                    self.now(), region,
                )  # fmt: skip
                self._record(found)
            return found

    # --- credentials and tokens ------------------------------------------------------------------

    def issue(self, region: str, address: str, site_id: str | None) -> Issued:
        """New client credentials for the VEN of ``site_id`` (or the BL of ``region`` when
        ``None``), replacing the site's earlier ones. The caller checked who may."""
        client_id = ("ven-" if site_id else "bl-") + secrets.token_hex(8)
        secret = secrets.token_urlsafe(24)
        c = Credential(client_id, _sha256(secret), region, site_id, address)
        with self._lock:
            self.journal.append(
                {"op": "cred", "client_id": client_id, "hash": c.secret_sha256, "region": region,
                 "site": site_id, "address": address}
            )  # fmt: skip
            self._drop_site_credentials(c)
            self.credentials[client_id] = c
        return Issued(client_id, secret, region, site_id)

    def _drop_site_credentials(self, c: Credential) -> None:
        if c.site_id is None:
            return
        for other in [k for k, v in self.credentials.items() if v.site_id == c.site_id]:
            del self.credentials[other]

    def token(self, client_id: str, client_secret: str) -> tuple[str, int]:
        """An access token for valid client credentials: ``(token, expires_in [s])``."""
        c = self.credentials.get(client_id)
        if c is None or not hmac.compare_digest(c.secret_sha256, _sha256(client_secret)):
            raise AuthenticationError(
                "invalid client credentials: a household creates its VEN's with POST "
                "/api/v1/sites/{site_id}/ven-credentials, the operator the BL's with POST "
                "/api/v1/regions/{region}/vtn-credentials"
            )
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tokens = {k: v for k, v in self._tokens.items() if v[0] > now}
            self._tokens[token] = (now + TOKEN_TTL_S, client_id)
        return token, TOKEN_TTL_S

    def principal_of_token(self, token: str) -> Principal | None:
        """The principal of a VTN access token (``None``: not one of ours, or expired)."""
        found = self._tokens.get(token)
        if found is None or found[0] < time.monotonic():
            return None
        c = self.credentials.get(found[1])
        if c is None:
            return None  # the credentials were replaced: their tokens end with them
        if c.site_id is None:
            return Principal(
                c.address, frozenset({Role.OPERATOR}), operator_regions=frozenset({c.region})
            )
        return Principal(
            c.address, frozenset({Role.HOUSEHOLD}), frozenset({c.site_id}),
            site_regions=frozenset({c.region}),
        )  # fmt: skip

    # --- programs ------------------------------------------------------------------------------

    def _visible_regions(self, p: Principal) -> set[str] | None:
        """Regions whose programs ``p`` reads (``None``: all); refuses an account that is
        neither a VEN (a household with a site) nor a BL (an operator) nor the admin."""
        if p.is_admin:
            return None
        regions = set(p.operator_regions) | set(p.site_regions)
        if not regions:
            raise ForbiddenError(
                "the VTN serves the regions' VENs (households with a site) and operators only"
            )
        return regions

    def list_programs(self, p: Principal, skip: int, limit: int) -> list[Program]:
        regions = self._visible_regions(p)
        with self._lock:
            found = [x for x in self.programs.values() if regions is None or x.region in regions]
        return _page(sorted(found, key=lambda x: (x.created or self.now(), x.id)), skip, limit)

    def program(self, p: Principal, program_id: str) -> Program:
        found = self.programs.get(program_id)
        regions = self._visible_regions(p)
        if found is None or (regions is not None and found.region not in regions):
            raise NotFoundError(f"no program {program_id!r}; see GET /programs")
        authorize(p, Action.VTN_READ, region=found.region)
        return found

    def _region_for_new_program(self, p: Principal, program: Program) -> str:
        if not (p.is_admin or p.operator_regions):
            raise ForbiddenError("only a region's operator (the BL) or the admin creates programs")
        if program.region:
            return program.region
        operated = sorted(p.operator_regions)
        if len(operated) == 1:
            return operated[0]
        raise ValidationError(
            'name the program\'s region as a target: "targets": [{"type": "REGION", '
            '"values": ["<region>"]}]'
        )

    def create_program(self, p: Principal, doc: object, regions: set[str]) -> Program:
        program = _as(Program, parse_object("PROGRAM", doc))
        region = self._region_for_new_program(p, program)
        authorize(p, Action.VTN_WRITE, region=region)
        if region not in regions:
            raise NotFoundError(f"no region {region!r}")
        with self._lock:
            if any(x.name == program.name for x in self.programs.values()):
                raise ConflictError(f"a program named {program.name!r} exists; pick another name")
            now = self.now()
            program = replace(
                program, id="program-" + secrets.token_hex(6), region=region, created=now,
                modified=None,
            )  # fmt: skip
            self._record(program)
        return program

    def update_program(self, p: Principal, program_id: str, doc: object) -> Program:
        old = self.program(p, program_id)
        authorize(p, Action.VTN_WRITE, region=old.region)
        new = _as(Program, parse_object("PROGRAM", doc))
        if new.region and new.region != old.region:
            raise ValidationError("a program cannot move to another region; create a new one")
        with self._lock:
            new = replace(
                new, id=old.id, region=old.region, created=old.created, modified=self.now()
            )
            self._record(new)
        return new

    def delete_program(self, p: Principal, program_id: str) -> Program:
        old = self.program(p, program_id)
        authorize(p, Action.VTN_WRITE, region=old.region)
        if program_id == default_program_id(old.region):
            raise ConflictError("the region's default program stays; delete its events instead")
        with self._lock:
            for ev in [e for e in self.events.values() if e.program_id == program_id]:
                self._delete("EVENT", ev.id)
            self._delete("PROGRAM", program_id)
        return old

    def _delete(self, kind: str, object_id: str) -> None:
        self.journal.append({"op": "delete", "kind": kind, "id": object_id})
        self._forget(kind, object_id)

    def _forget(self, kind: str, object_id: str) -> None:
        if kind == "PROGRAM":
            self.programs.pop(object_id, None)
        elif kind == "EVENT":
            self.events.pop(object_id, None)
        else:
            self.reports.pop(object_id, None)

    # --- events --------------------------------------------------------------------------------

    def region_of_event(self, event: Event) -> str:
        program = self.programs.get(event.program_id)
        return program.region if program is not None else ""

    def _for_ven(self, p: Principal, event: Event) -> Event | None:
        """``event`` as ``p`` sees it: all of it for the BL and the admin; for a VEN, only if it
        targets one of its sites (or everyone), with the targets trimmed to those."""
        region = self.region_of_event(event)
        if p.is_admin or region in p.operator_regions:
            return event
        if region not in p.site_regions:
            return None
        if not event.targets:
            return event
        mine = tuple(t for t in event.targets if t in p.sites)
        return replace(event, targets=mine) if mine else None

    def list_events(
        self, p: Principal, program_id: str | None, skip: int, limit: int
    ) -> list[Event]:
        self._visible_regions(p)
        with self._lock:
            events = list(self.events.values())
        seen = [
            v
            for e in events
            if (program_id is None or e.program_id == program_id)
            and (v := self._for_ven(p, e)) is not None
        ]
        seen.sort(key=lambda e: (e.period.start, e.created or e.period.start, e.id))
        return _page(seen, skip, limit)

    def event(self, p: Principal, event_id: str) -> Event:
        found = self.events.get(event_id)
        seen = None if found is None else self._for_ven(p, found)
        if found is None or seen is None:
            if found is not None:
                authorize(p, Action.VTN_READ, region=self.region_of_event(found))
            raise NotFoundError(f"no event {event_id!r} for you; see GET /events")
        return seen

    def _checked_event(self, p: Principal, doc: object) -> tuple[Event, Program]:
        event = _as(Event, parse_object("EVENT", doc))
        program = self.programs.get(event.program_id)
        if program is None:
            if not (p.is_admin or p.operator_regions):
                raise ForbiddenError("only a region's operator (the BL) writes events")
            raise NotFoundError(f"no program {event.program_id!r}; see GET /programs")
        authorize(p, Action.VTN_WRITE, region=program.region)
        if not event.intervals:
            raise ValidationError("an event needs at least one interval with a payload")
        return event, program

    def create_event(self, p: Principal, doc: object) -> Event:
        event, _ = self._checked_event(p, doc)
        with self._lock:
            event = replace(
                event, id="event-" + secrets.token_hex(6), created=self.now(), modified=None
            )
            self._record(event)
        self._announce(event)
        return event

    def update_event(self, p: Principal, event_id: str, doc: object) -> Event:
        old = self.events.get(event_id)
        if old is None:
            raise NotFoundError(f"no event {event_id!r}; see GET /events")
        authorize(p, Action.VTN_WRITE, region=self.region_of_event(old))
        event, _ = self._checked_event(p, doc)
        with self._lock:
            event = replace(event, id=old.id, created=old.created, modified=self.now())
            self._record(event)
        self._announce(event)
        return event

    def delete_event(self, p: Principal, event_id: str) -> Event:
        old = self.events.get(event_id)
        if old is None:
            raise NotFoundError(f"no event {event_id!r}; see GET /events")
        authorize(p, Action.VTN_WRITE, region=self.region_of_event(old))
        with self._lock:
            self._delete("EVENT", event_id)
        return old

    def _announce(self, event: Event) -> None:
        region = self.region_of_event(event)
        for listener in self.listeners:
            listener(region, event)

    def events_of_region(self, region: str) -> list[Event]:
        """Every event of ``region``'s programs (the live VENs read these in process)."""
        with self._lock:
            return [e for e in self.events.values() if self.region_of_event(e) == region]

    # --- reports -------------------------------------------------------------------------------

    def create_report(self, p: Principal, doc: object) -> Report:
        doc = self._with_period(doc)
        report = _as(Report, parse_object("REPORT", doc))
        event = self.events.get(report.event_id)
        region = "" if event is None else self.region_of_event(event)
        # a VEN reports for itself only: clientName is its own site
        authorize(p, Action.VTN_REPORT, site_id=report.client_name, site_owner=p.address)
        if event is None or event.program_id != report.program_id:
            raise NotFoundError(
                f"no event {report.event_id!r} in program {report.program_id!r}; see GET /events"
            )
        if self._for_ven(p, event) is None or region not in p.site_regions:
            raise NotFoundError(f"event {report.event_id!r} is not one of yours")
        return self.record_report(report)

    def _with_period(self, doc: object) -> object:
        """A report whose resource has no ``intervalPeriod`` (optional in 3.0.1) covers its
        event's period."""
        if not isinstance(doc, dict) or doc.get("intervalPeriod"):
            return doc
        resources = doc.get("resources")
        event = self.events.get(str(doc.get("eventID")))
        if event is None or not isinstance(resources, list) or not resources:
            return doc
        first = resources[0]
        if isinstance(first, dict) and not first.get("intervalPeriod"):
            resources = [{**first, "intervalPeriod": event.period.to_json()}, *resources[1:]]
            return {**doc, "resources": resources}
        return doc

    def record_report(self, report: Report) -> Report:
        """Store a VEN's report (the live VENs call this in process)."""
        with self._lock:
            report = replace(
                report, id="report-" + secrets.token_hex(6), created=self.now(), modified=None
            )
            self._record(report)
        return report

    def _may_read_report(self, p: Principal, report: Report) -> bool:
        if report.client_name in p.sites or p.is_admin:
            return True
        event = self.events.get(report.event_id)
        program = self.programs.get(report.program_id)
        region = self.region_of_event(event) if event else program.region if program else ""
        return region in p.operator_regions

    def list_reports(
        self, p: Principal, program_id: str | None, event_id: str | None,
        client_name: str | None, skip: int, limit: int,
    ) -> list[Report]:  # fmt: skip
        self._visible_regions(p)
        with self._lock:
            reports = list(self.reports.values())
        seen = [
            r
            for r in reports
            if self._may_read_report(p, r)
            and (program_id is None or r.program_id == program_id)
            and (event_id is None or r.event_id == event_id)
            and (client_name is None or r.client_name == client_name)
        ]
        seen.sort(key=lambda r: (r.created or r.period.start, r.id))
        return _page(seen, skip, limit)

    def report(self, p: Principal, report_id: str) -> Report:
        found = self.reports.get(report_id)
        if found is None or not self._may_read_report(p, found):
            raise NotFoundError(f"no report {report_id!r} of yours")
        return found

    def reports_of(self, site_id: str) -> list[Report]:
        with self._lock:
            return [r for r in self.reports.values() if r.client_name == site_id]

    # --- VENs ------------------------------------------------------------------------------------

    def list_vens(
        self, p: Principal, regions: list[str], ven_name: str | None, skip: int, limit: int
    ) -> list[dict[str, Any]]:
        self._visible_regions(p)
        names: list[tuple[str, str]] = []
        for region in regions:
            if p.is_admin or region in p.operator_regions:
                names += [(region, s) for s in self.sites_of_region(region)]
            elif region in p.site_regions:
                names += [(region, s) for s in self.sites_of_region(region) if s in p.sites]
        if ven_name is not None:
            names = [n for n in names if n[1] == ven_name]
        return [
            {"id": site, "objectType": "VEN", "venName": site,
             "targets": [{"type": "REGION", "values": [region]}]}
            for region, site in _page(sorted(names, key=lambda n: n[1]), skip, limit)
        ]  # fmt: skip

    # --- opt-outs --------------------------------------------------------------------------------

    def set_opt_out(
        self, region: str, site_id: str, *, program_id: str | None, event_id: str | None, out: bool
    ) -> None:
        """Opt ``site_id`` out of (or back into) a program or one event; the caller checked the
        site is the caller's."""
        if (program_id is None) == (event_id is None):
            raise ValidationError("give exactly one of program_id and event_id")
        if program_id is not None:
            program = self.programs.get(program_id)
            if program is None or program.region != region:
                raise NotFoundError(f"no program {program_id!r} in region {region!r}")
            key, what, target = (program_id, site_id), "program", self.program_opt_outs
        else:
            assert event_id is not None
            event = self.events.get(event_id)
            if event is None or self.region_of_event(event) != region:
                raise NotFoundError(f"no event {event_id!r} in region {region!r}")
            key, what, target = (event_id, site_id), "event", self.event_opt_outs
        with self._lock:
            self.journal.append(
                {"op": "optout", "what": what, "scope": key[0], "site": site_id, "out": out}
            )
            (target.add if out else target.discard)(key)

    def opt_outs(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """Copies of the (program, site) and (event, site) opt-outs (safe to iterate while the
        API changes them)."""
        with self._lock:
            return set(self.program_opt_outs), set(self.event_opt_outs)

    def opted_out(self, site_id: str, event: Event) -> bool:
        """Whether ``site_id`` opted out of ``event`` or out of its program."""
        return (event.program_id, site_id) in self.program_opt_outs or (
            event.id,
            site_id,
        ) in self.event_opt_outs


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _page(items: list[T], skip: int, limit: int) -> list[T]:
    if skip < 0 or not 0 < limit <= MAX_LIMIT:
        raise ValidationError(f"skip >= 0 and 1 <= limit <= {MAX_LIMIT}")
    return items[skip : skip + limit]


def _as(kind: type[T], obj: object) -> T:
    assert isinstance(obj, kind)
    return obj
