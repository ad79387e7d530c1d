"""The HTTP API application: FastAPI with every router, problem+json errors, health, metrics.

``create_app(platform)`` builds the app over a :class:`~gridledger.service.platform.Platform`;
``gridledger serve`` runs it on uvicorn.

Which routes are coroutines: the quick reads (a session, a site's live view, the market, lists of
the caller's orders, fills, commands) run on the event loop: each is a few indexed store reads
well under a millisecond, and a thread-pool hop cost more than the work (at 100 concurrent
clients reads went from about 450 to 870 requests/s, the rate of ``/healthz``). Anything that
talks to the chain, signs, fsyncs the journal or scans a range (orders placed, commands sent,
archive, proofs, history, operator status) stays a plain function on the thread pool. The price:
while the store stalls (a PostgreSQL server that stops answering, rather than refusing), those
quick reads stall the loop up to the store's connect timeout. The OpenAPI 3.1 document is served at
``/api/v1/openapi.json`` (stable) and committed as ``docs/openapi.json``; a test fails when the two
drift (``python -m gridledger.api.app > docs/openapi.json`` regenerates it).

FastAPI's native OpenTelemetry support is off unless the environment configures OpenTelemetry
(an ``OTEL_*`` variable or ``FASTAPI_OTEL_AUTO_CONFIGURE``): unconfigured, it still asked for the
global tracer, meter and logger providers on every request (three missing-key look-ups in
``os.environ``), about 10 % of the event loop's time under load. The platform's own metrics are
Prometheus (``/metrics``).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from fastapi import FastAPI, Response
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig

from gridledger.api import (
    archive,
    auth,
    demand_response,
    households,
    markets,
    orders,
    problems,
    stream,
    vtn,
)
from gridledger.api.schemas import HealthOut
from gridledger.api.session import PlatformDep
from gridledger.service.platform import Platform

OPENAPI_URL = "/api/v1/openapi.json"
TITLE = "gridledger API"
VERSION = "1.0.0"
DESCRIPTION = (
    "The live platform of gridledger: households, energy companies and region operators watch "
    "and act on a regional peer-to-peer energy market settled on an EVM. Sign in with Ethereum "
    "(EIP-4361); errors are RFC 9457 problem+json; lists use cursor pagination; live data is a "
    "Server-Sent Events stream. Units: Wh, W, micro-units, micro-units per kWh."
)


def _otel_configured() -> bool:
    """Whether the environment asks for OpenTelemetry (module docstring)."""
    return any(k.startswith(("OTEL_", "FASTAPI_OTEL_")) for k in os.environ)


def create_app(platform: Platform | None = None) -> FastAPI:
    """The API app; ``platform`` may be set later on ``app.state.platform``."""
    off: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        telemetry=None if _otel_configured() else off,
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL,
        # FastAPI's Swagger page loads its scripts from a CDN: nothing here may need the internet
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    problems.install(app)
    for module in (auth, markets, households, orders, archive, stream, demand_response, vtn):
        app.include_router(module.router)

    @app.get("/healthz", response_model=HealthOut, tags=["health"], summary="Alive")
    async def healthz(platform: PlatformDep) -> Response:
        status = "stopping" if platform.health.stopping else "ok"
        return Response(json.dumps({"status": status}), media_type="application/json")

    @app.get(
        "/readyz",
        response_model=HealthOut,
        tags=["health"],
        summary="Ready to serve",
        responses={503: {"model": HealthOut, "description": "Not ready"}},
    )
    async def readyz(platform: PlatformDep) -> Response:
        ok = platform.uptime_ok()
        body = json.dumps({"status": "ok" if ok else "starting"})
        return Response(body, status_code=200 if ok else 503, media_type="application/json")

    @app.get("/metrics", include_in_schema=False)
    def metrics(platform: PlatformDep) -> Response:
        platform.metrics.stream_subscribers.set(platform.bus.subscribers)
        return Response(platform.metrics.render(), media_type="text/plain; version=0.0.4")

    return app


def openapi_document(app: FastAPI | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API (what ``/api/v1/openapi.json`` serves)."""
    app = app or create_app()
    return get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )


def main() -> None:
    json.dump(openapi_document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
