"""The household app's routes without a browser: who lands where, which page each account may
open (the same policy as the API's), and that every asset a page names is served locally."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from serve_platform import World

from gridledger.web import mount
from gridledger.web.pages import HERE


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("web-routes"))
    app = w.client.app
    assert isinstance(app, FastAPI)
    mount(app)
    yield w
    w.close()


def _location(world: World, path: str, role: str | None = None) -> tuple[int, str]:
    r = world.client.get(path, headers=world.headers(role), follow_redirects=False)
    return r.status_code, r.headers.get("location", "")


def test_anonymous_goes_to_sign_in(world: World) -> None:
    site = world.a_site.site_id
    assert _location(world, "/") == (303, "/app")
    assert _location(world, "/app") == (303, "/app/signin")
    assert _location(world, f"/app/sites/{site}/monitor") == (
        303,
        f"/app/signin?next=/app/sites/{site}/monitor",
    )
    for path in (
        "/app/archive",
        "/app/company",
        "/app/operator/central",
        "/app/archive/trades/central/0/0",
    ):
        status, where = _location(world, path)
        assert status == 303 and where.startswith("/app/signin?next="), path
    page = world.client.get("/app/signin")
    assert page.status_code == 200 and 'id="demo-form"' in page.text


def test_sign_in_page_only_returns_to_this_app(world: World) -> None:
    for target in ("https://example.org/app/x", "//example.org/app/", "/api/v1/me"):
        page = world.client.get("/app/signin", params={"next": target})
        assert 'id="next" value=""' in page.text, target
    page = world.client.get("/app/signin", params={"next": "/app/archive"})
    assert 'id="next" value="/app/archive"' in page.text


def test_each_role_lands_on_its_home(world: World) -> None:
    site = world.a_site.site_id
    assert _location(world, "/app", "a") == (303, f"/app/sites/{site}/monitor")
    assert _location(world, "/app", "company") == (303, "/app/company")
    assert _location(world, "/app", "operator") == (303, "/app/operator/central")
    assert _location(world, "/app", "admin") == (303, "/app/operator/central")
    assert _location(world, "/app", "outsider") == (303, "/app/archive")


def test_a_households_pages_are_its_own(world: World) -> None:
    site = world.a_site.site_id
    for tab in ("monitor", "plant", "trading", "events"):
        mine = world.client.get(f"/app/sites/{site}/{tab}", headers=world.headers("a"))
        assert mine.status_code == 200 and f'data-site="{site}"' in mine.text
        assert 'data-region="central"' in mine.text
        for other in ("b", "outsider", "company"):
            refused = world.client.get(f"/app/sites/{site}/{tab}", headers=world.headers(other))
            assert refused.status_code == 404, (other, tab)
            assert f'data-site="{site}"' not in refused.text
        # the operator of the region and the admin see the region's sites
        for role in ("operator", "admin"):
            seen = world.client.get(f"/app/sites/{site}/{tab}", headers=world.headers(role))
            assert seen.status_code == 200, (role, tab)
    assert (
        world.client.get(f"/app/sites/{site}/bogus", headers=world.headers("a")).status_code == 404
    )
    missing = world.client.get("/app/sites/no-such-site/monitor", headers=world.headers("a"))
    assert missing.status_code == 404


def test_a_faults_evidence_plot_is_shown_to_whoever_may_read_the_site(world: World) -> None:
    site = world.a_site.site_id
    url = f"/app/sites/{site}/faults/{world.a_fault}/evidence.svg"
    for role in ("a", "operator", "admin"):
        plot = world.client.get(url, headers=world.headers(role))
        assert plot.status_code == 200, role
        assert plot.headers["content-type"].startswith("image/svg+xml")
        assert "measured 0 W" in plot.text and "<title" in plot.text
    refusals: list[tuple[str | None, int]] = [
        ("b", 404), ("outsider", 404), ("company", 404), (None, 401),
    ]  # fmt: skip
    for who, status in refusals:
        refused = world.client.get(url, headers=world.headers(who))
        assert refused.status_code == status, who
        assert not refused.content
    gone = f"/app/sites/{site}/faults/{site}-pv:outage:1/evidence.svg"
    assert world.client.get(gone, headers=world.headers("a")).status_code == 404


def test_operator_and_company_views_are_theirs(world: World) -> None:
    for role, status in (("operator", 200), ("admin", 200), ("a", 404), ("company", 404)):
        r = world.client.get("/app/operator/central", headers=world.headers(role))
        assert r.status_code == status, role
    for role, status in (("company", 200), ("a", 404), ("operator", 404)):
        assert world.client.get("/app/company", headers=world.headers(role)).status_code == status


def test_every_asset_a_page_names_is_local_and_served(world: World) -> None:
    text = "".join(p.read_text() for p in (HERE / "templates").glob("*.html"))
    scripts = "".join(p.read_text() for p in (HERE / "static").glob("*.js"))
    # nothing of the app comes from elsewhere at run time
    assert not re.search(r"""(src|href)=["'](https?:)?//""", text)
    assert not re.search(r"""fetch\(["'`]https?:""", scripts)
    assets = set(re.findall(r"""(?:src|href)="(/app/static/[^"]+)\"""", text))
    assert {"/app/static/app.js", "/app/static/vendor/uPlot.iife.min.js"} <= assets
    for path in sorted(assets):
        r = world.client.get(path)
        assert r.status_code == 200 and r.content, path
        assert (HERE / "static" / Path(path).relative_to("/app/static")).is_file()
    vendor = (HERE / "static" / "vendor" / "VERSIONS.txt").read_text()
    assert "uplot 1.6.32" in vendor and "axe-core 4.14.1" in vendor
