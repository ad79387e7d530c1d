"""Schema conformance: schemathesis runs every operation of the running server's OpenAPI
document (uvicorn on 127.0.0.1) with a bounded budget, signed in as a household. The result must
be no server error and every response conforming to its documented status, media type and schema.
``GRIDLEDGER_SOAK=1`` raises the budget."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_platform import World

from gridledger.api.app import OPENAPI_URL, create_app, openapi_document

EXAMPLES = 200 if os.environ.get("GRIDLEDGER_SOAK") else 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    world = World(tmp_path_factory.mktemp("schema"), minutes=35)
    world.platform.start()  # the background tasks run (on the manual clock): /readyz is 200
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(world.platform),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield world, base
    server.should_exit = True
    thread.join(10)
    world.close()


@pytest.fixture(scope="module")
def api_schema(served: tuple[World, str]) -> Any:
    _, base = served
    schema = schemathesis.openapi.from_url(base + OPENAPI_URL)
    # an open event stream never ends; the logout would end the session the run signs in with
    return schema.exclude(path="/api/v1/stream").exclude(path="/api/v1/auth/logout")


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation in positive mode; those that take input in negative mode too."""
    doc = openapi_document()
    skip = {"/api/v1/stream", "/api/v1/auth/logout"}
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path in skip:
                continue
            label = f"{method.upper()} {path}"
            out.append((label, GenerationMode.POSITIVE))
            if op.get("parameters") or op.get("requestBody"):
                out.append((label, GenerationMode.NEGATIVE))
    return sorted(out)


@pytest.mark.parametrize(("label", "mode"), _cases())
def test_every_operation_conforms(
    label: str, mode: GenerationMode, api_schema: Any, served: tuple[World, str]
) -> None:
    """Valid requests and invalid ones (negative mode): never a 5xx, always the documented
    shape (an invalid request gets a documented 4xx problem)."""
    world, base = served
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    headers = {"Authorization": f"Bearer {world.tokens['a']}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)

    run()


def test_the_server_answers_over_tcp(served: tuple[World, str]) -> None:
    _, base = served
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
