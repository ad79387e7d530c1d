"""The household app's pages: server-rendered Jinja2 shells whose little JS reads the API.

Each page is a template rendered with what the server already knows (the signed-in account, the
site and its region); the figures come from ``/api/v1`` and the live stream in the browser, so the
pages hold no business rule of their own. A page is refused here the same way its data is refused
by the API: the site is looked up through ``service.monitor.site_for`` (the one access policy), so
another household's site is a 404 page and no session sends the browser to the sign-in page.

:func:`mount` adds the pages and the local assets (``/app/static``) to the API app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from gridledger.api.session import Caller, PlatformDep
from gridledger.service import household_faults
from gridledger.service.access import AccessError, Action, AuthenticationError, Principal, Role
from gridledger.service.monitor import site_for
from gridledger.service.plant_faults import fault_id as id_of
from gridledger.web.evidence_plot import evidence_svg

HERE = Path(__file__).resolve().parent
#: The symbol money is shown with: amounts are micro-units of the community currency.
CURRENCY = "€"
#: The tabs of a household's site, in the order of the navigation.
SITE_PAGES = ("monitor", "plant", "trading", "events")

templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/app", include_in_schema=False)


def mount(app: FastAPI) -> FastAPI:
    """Add the pages under ``/app`` and the assets under ``/app/static`` to ``app``."""
    app.mount("/app/static", StaticFiles(directory=HERE / "static"), name="web-static")
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/app", status_code=303)

    return app


def _render(
    request: Request, name: str, caller: Principal | None, status: int = 200, **ctx: Any
) -> HTMLResponse:
    # the regions whose operator view the caller opens: its own, every region for the admin
    regions = set(caller.operator_regions) if caller is not None else set()
    if caller is not None and caller.is_admin:
        regions |= set(request.app.state.platform.regions)
    context = {
        "me": caller,
        "regions": sorted(regions),
        "currency": CURRENCY,
        "site_pages": SITE_PAGES,
        **ctx,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def _to_signin(request: Request) -> RedirectResponse:
    target = quote(request.url.path, safe="/")
    return RedirectResponse(f"/app/signin?next={target}", status_code=303)


def _not_found(request: Request, caller: Principal | None, what: str) -> HTMLResponse:
    return _render(request, "notfound.html", caller, status=404, what=what, page="notfound")


def home_of(p: Principal, regions: list[str]) -> str:
    """Where an account lands after signing in: its site, its region (any region for the admin),
    or its company; ``regions`` are the platform's."""
    if p.primary_role is Role.HOUSEHOLD and p.sites:
        return f"/app/sites/{sorted(p.sites)[0]}/monitor"
    operated = sorted(p.operator_regions) or (sorted(regions) if p.is_admin else [])
    if operated:
        return f"/app/operator/{operated[0]}"
    if p.company_regions:
        return "/app/company"
    if p.sites:
        return f"/app/sites/{sorted(p.sites)[0]}/monitor"
    return "/app/archive"


@router.get("")
async def index(caller: Caller, platform: PlatformDep) -> RedirectResponse:
    if caller is None:
        return RedirectResponse("/app/signin", status_code=303)
    return RedirectResponse(home_of(caller, list(platform.regions)), status_code=303)


@router.get("/signin")
async def signin(request: Request, caller: Caller, next: str = "") -> HTMLResponse:
    # only a path of this app: an absolute URL in ``next`` would make this an open redirect
    target = next if next.startswith("/app/") else ""
    return _render(request, "signin.html", caller, page="signin", next=target)


@router.get("/sites/{site_id}/{tab}")
def site_page(
    request: Request, site_id: str, tab: str, platform: PlatformDep, caller: Caller
) -> Response:
    """Monitor, plant or trading of a site the caller may see (404 page for anyone else's)."""
    if tab not in SITE_PAGES:
        return _not_found(request, caller, f"page {tab!r}")
    try:
        site = site_for(platform, caller, site_id, Action.READ_SITE)
    except AuthenticationError:
        return _to_signin(request)
    except AccessError:
        return _not_found(request, caller, f"site {site_id!r}")
    return _render(
        request, f"{tab}.html", caller, page=tab, site_id=site.site_id, region=site.region
    )


@router.get("/sites/{site_id}/faults/{fault_id}/evidence.svg")
def fault_evidence(site_id: str, fault_id: str, platform: PlatformDep, caller: Caller) -> Response:
    """The evidence plot of a fault of a site the caller may see (an SVG image; 401/404 empty)."""
    try:
        faults = household_faults.faults_of(platform, caller, site_id)
    except AccessError as exc:
        return Response(status_code=exc.status)
    found = next((f for f in faults if id_of(f) == fault_id), None)
    if found is None:
        return Response(status_code=404)
    title = f"Evidence of the {str(found.kind).replace('_', ' ')} fault of {found.device}"
    return Response(
        evidence_svg(found.evidence, title),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/archive")
async def archive(request: Request, caller: Caller) -> Response:
    if caller is None:
        return _to_signin(request)
    return _render(request, "archive.html", caller, page="archive")


@router.get("/archive/trades/{region}/{slot_start_s}/{index}")
async def trade(
    request: Request, region: str, slot_start_s: int, index: int, caller: Caller
) -> Response:
    """A trade's details; the API refuses (404) a trade the caller is no party to."""
    if caller is None:
        return _to_signin(request)
    return _render(
        request,
        "trade.html",
        caller,
        page="trade",
        region=region,
        slot_start_s=slot_start_s,
        index=index,
    )


@router.get("/operator/{region}")
async def operator(request: Request, region: str, caller: Caller) -> Response:
    if caller is None:
        return _to_signin(request)
    if not (caller.is_admin or region in caller.operator_regions):
        return _not_found(request, caller, f"operator view of {region!r}")
    return _render(request, "operator.html", caller, page="operator", region=region)


@router.get("/company")
async def company(request: Request, caller: Caller) -> Response:
    if caller is None:
        return _to_signin(request)
    if not caller.company_regions:
        return _not_found(request, caller, "company view")
    region = sorted(caller.company_regions)[0]
    return _render(request, "company.html", caller, page="company", region=region)
