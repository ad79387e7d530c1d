"""The OpenAPI 3.1 document: served at its stable URL, and equal to the committed
docs/openapi.json (regenerate with ``python -m gridledger.api.app > docs/openapi.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from serve_platform import TestClient

from gridledger.api.app import OPENAPI_URL, create_app, openapi_document

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def test_committed_document_matches_the_code() -> None:
    committed = json.loads(COMMITTED.read_text())
    current = json.loads(json.dumps(openapi_document()))
    assert committed == current, (
        "docs/openapi.json drifted from the API; regenerate it with "
        "`python -m gridledger.api.app > docs/openapi.json` and review the diff"
    )


def test_served_at_the_stable_url_as_openapi_3_1() -> None:
    with TestClient(create_app()) as client:
        doc = client.get(OPENAPI_URL).json()
    assert doc["openapi"].startswith("3.1")
    assert doc == json.loads(json.dumps(openapi_document()))
    paths = doc["paths"]
    assert all(
        p.startswith(("/api/v1/", "/openadr3/3.0.1/"))
        for p in paths
        if p not in ("/healthz", "/readyz")
    )
    # every operation documents the problem+json errors
    for item in paths.values():
        for op in item.values():
            assert "application/problem+json" in json.dumps(op["responses"]) or op[
                "operationId"
            ].startswith(("healthz", "readyz"))
