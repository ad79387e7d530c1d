"""Prometheus metrics of the live platform (prometheus-client), one registry per platform.

Names follow Prometheus conventions (``_total`` counters, base units, seconds for lag).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """The platform's counters and gauges, labelled by region (and stage or reason)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.slots_cleared = Counter(
            "gridledger_slots_cleared_total",
            "Slots cleared at gate closure",
            ["region"],
            registry=r,
        )
        self.slots_settled = Counter(
            "gridledger_slots_settled_total",
            "Slots whose trades settled on chain",
            ["region"],
            registry=r,
        )
        self.deliveries_settled = Counter(
            "gridledger_deliveries_settled_total",
            "Slots whose delivery settled on chain",
            ["region"],
            registry=r,
        )
        self.trades_settled = Counter(
            "gridledger_trades_settled_total", "Trades settled on chain", ["region"], registry=r
        )
        self.orders_accepted = Counter(
            "gridledger_orders_accepted_total",
            "Orders accepted into a book",
            ["region"],
            registry=r,
        )
        self.readings_ingested = Counter(
            "gridledger_readings_ingested_total", "Signed readings accepted by ingest", registry=r
        )
        self.rejections = Counter(
            "gridledger_rejections_total",
            "Refused readings, orders, commands and sign-ins",
            ["kind", "reason"],
            registry=r,
        )
        self.lag = Gauge(
            "gridledger_stage_lag_seconds",
            "How far a stage is behind the clock (clock seconds): ingest (newest stored reading), "
            "clearing (gate closures not yet cleared), settlement, delivery",
            ["region", "stage"],
            registry=r,
        )
        self.ingest_rate = Gauge(
            "gridledger_ingest_readings_per_second",
            "Readings stored per wall second (last batch window)",
            registry=r,
        )
        self.stream_subscribers = Gauge(
            "gridledger_stream_subscribers", "Open live-stream connections", registry=r
        )
        self.stage_errors = Counter(
            "gridledger_stage_errors_total",
            "Errors of a background stage (retried)",
            ["region", "stage"],
            registry=r,
        )

        self.feeder_events = Counter(
            "gridledger_feeder_events_total",
            "Import-limit events the feeder check issued because the forecast overloads the "
            "transformer or a line",
            ["region"],
            registry=r,
        )
        self.feeder_loading = Gauge(
            "gridledger_feeder_forecast_loading_ratio",
            "Highest forecast loading of the feeder's transformer or lines over the next slots "
            "(1.0 = rated), before demand response",
            ["region"],
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return bytes(generate_latest(self.registry))
