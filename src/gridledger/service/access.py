"""Who may do what: roles, the signed-in principal, and the one authorisation policy.

Every API operation asks :func:`authorize` before it reads or changes anything; no route decides
access on its own. The rules:

* a **household** (an account that owns sites) sees and acts on its own sites, devices, readings,
  orders, trades and commands only, and only it acknowledges its sites' faults; another
  household's site is *not found* (404), so a probe cannot even learn that it exists;
* an **energy company** (registered with ``Role.COMPANY`` in a region) manages its own offers and
  sees what it bought;
* a **region operator** sees its region's sites, market and settlement status and registers
  households and companies there, sets tariffs for future slots;
* the **city admin** sees every region;
* on the OpenADR 3 VTN (:mod:`gridledger.service.vtn`) the region operator is the business
  logic (BL: writes programs and events of its regions); a household is the VEN of each of its
  sites: it reads its regions' programs and the events meant for it, and posts reports for its
  own sites only; a report is seen by its VEN, the region's operator and the admin.

Region aggregates (:data:`MIN_AGGREGATE_HOUSEHOLDS`) are refused over fewer than five households,
so an aggregate can never single one household out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gridledger.errors import GridLedgerError

#: The fewest households a region aggregate may be computed over.
MIN_AGGREGATE_HOUSEHOLDS = 5


class AccessError(GridLedgerError):
    """Base of the refusals of the service; ``status`` is the HTTP status that fits."""

    status = 403
    code = "forbidden"


class AuthenticationError(AccessError):
    """No valid session, or a sign-in that does not hold (HTTP 401)."""

    status = 401
    code = "unauthenticated"


class ForbiddenError(AccessError):
    """The caller is signed in but not allowed (HTTP 403)."""


class NotFoundError(AccessError):
    """Nothing of that name exists for the caller (HTTP 404)."""

    status = 404
    code = "not-found"


class ConflictError(AccessError):
    """The request conflicts with the state (a replay, a reused nonce: HTTP 409)."""

    status = 409
    code = "conflict"


class AggregateTooSmallError(ForbiddenError):
    """A region aggregate over fewer than :data:`MIN_AGGREGATE_HOUSEHOLDS` households."""

    code = "aggregate-too-small"


class Role(enum.StrEnum):
    HOUSEHOLD = "household"
    COMPANY = "company"
    OPERATOR = "operator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """A signed-in account: its address (checksummed), its roles, and where they apply.

    ``sites`` are the site ids it owns; ``company_regions`` the regions it is a registered company
    in; ``operator_regions`` the regions it operates.
    """

    address: str
    roles: frozenset[Role]
    sites: frozenset[str] = field(default_factory=frozenset)
    company_regions: frozenset[str] = field(default_factory=frozenset)
    operator_regions: frozenset[str] = field(default_factory=frozenset)
    #: the regions of the sites it owns (where it is a VEN)
    site_regions: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def primary_role(self) -> Role:
        for role in (Role.ADMIN, Role.OPERATOR, Role.COMPANY, Role.HOUSEHOLD):
            if role in self.roles:
                return role
        return Role.HOUSEHOLD


class Action(enum.StrEnum):
    READ_SITE = "read_site"
    COMMAND_SITE = "command_site"
    ACKNOWLEDGE_FAULT = "acknowledge_fault"
    TRADE = "trade"
    READ_REGION = "read_region"
    OPERATE_REGION = "operate_region"
    COMPANY = "company"
    #: read a region's OpenADR programs and events (BL or a VEN of the region)
    VTN_READ = "vtn_read"
    #: write a region's OpenADR programs and events (the BL: the region's operator)
    VTN_WRITE = "vtn_write"
    #: post or read a VEN's report (``site_id`` names the VEN)
    VTN_REPORT = "vtn_report"


def authorize(
    principal: Principal | None,
    action: Action,
    *,
    site_owner: str | None = None,
    site_id: str | None = None,
    region: str | None = None,
) -> Principal:
    """Return ``principal`` if it may do ``action`` on the resource, else raise.

    ``site_id``/``site_owner``/``region`` name the resource. Refusals: no principal -> 401;
    someone else's site -> 404 (for households: nothing reveals it exists), a site of another
    region for an operator -> 404; a role that does not fit -> 403.
    """
    if principal is None:
        raise AuthenticationError(
            "sign in first: GET /api/v1/auth/nonce, sign the EIP-4361 message, "
            "POST /api/v1/auth/login"
        )
    if action in (Action.READ_SITE, Action.COMMAND_SITE, Action.ACKNOWLEDGE_FAULT):
        if site_id is None:
            raise NotFoundError("no such site")
        owns = site_id in principal.sites or (
            site_owner is not None and site_owner.lower() == principal.address.lower()
        )
        if owns:
            return principal
        if action is Action.READ_SITE and (
            principal.is_admin or (region is not None and region in principal.operator_regions)
        ):
            return principal
        raise NotFoundError(f"no site {site_id!r} of yours")
    if action is Action.TRADE:
        if Role.HOUSEHOLD in principal.roles or Role.COMPANY in principal.roles:
            return principal
        raise ForbiddenError("only households and energy companies place orders")
    if action is Action.READ_REGION:
        return principal  # any signed-in account sees a region's market (aggregates only)
    if action is Action.OPERATE_REGION:
        if principal.is_admin or (region is not None and region in principal.operator_regions):
            return principal
        raise ForbiddenError(f"only the operator of region {region!r} or the city admin may")
    if action is Action.VTN_READ:
        if principal.is_admin or region in principal.operator_regions:
            return principal
        if region is not None and region in principal.site_regions:
            return principal
        raise ForbiddenError(
            f"only the VENs (households) and the operator of region {region!r} read its "
            "demand-response programs and events"
        )
    if action is Action.VTN_WRITE:
        if principal.is_admin or (region is not None and region in principal.operator_regions):
            return principal
        raise ForbiddenError(
            f"only the operator of region {region!r} (the VTN's business logic) or the city "
            "admin writes its programs and events"
        )
    if action is Action.VTN_REPORT:
        if site_id is not None and site_id in principal.sites:
            return principal
        if site_owner is None and (
            principal.is_admin or (region is not None and region in principal.operator_regions)
        ):
            return principal  # reading a report (``site_owner`` is given when posting one)
        raise NotFoundError("no such VEN of yours: a VEN reports as itself (clientName)")
    if action is Action.COMPANY:
        if region is not None and region in principal.company_regions:
            return principal
        if region is None and principal.company_regions:
            return principal
        raise ForbiddenError("only a registered energy company may")
    raise ForbiddenError(f"unknown action {action!r}")  # pragma: no cover


def require_aggregate(households: int, region: str) -> None:
    """Refuse a region aggregate over fewer than :data:`MIN_AGGREGATE_HOUSEHOLDS` households."""
    if households < MIN_AGGREGATE_HOUSEHOLDS:
        raise AggregateTooSmallError(
            f"region {region!r} has {households} households; aggregates are given only over at "
            f"least {MIN_AGGREGATE_HOUSEHOLDS}, so none can single a household out"
        )
