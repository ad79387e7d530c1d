"""The public surface of gridledger.telemetry is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.telemetry as telemetry


def test_exported_members() -> None:
    assert telemetry.__all__ == [
        "REASONS",
        "BatchResult",
        "CheckedBatch",
        "Delivery",
        "Handler",
        "Ingestor",
        "Site",
        "Transport",
        "make_sites",
        "open_transport",
        "parse_topic",
        "readings_filter",
        "run_ingest",
        "topic",
        "topic_matches",
        "traffic",
    ]
    for name in telemetry.__all__:
        assert getattr(telemetry, name) is not None
