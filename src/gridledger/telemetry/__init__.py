"""Telemetry: transports (in-process, MQTT) and ingest (verify, de-duplicate, store).

>>> from gridledger.telemetry import open_transport
>>> received = []
>>> sub = open_transport("memory://doc", "ingest")
>>> sub.subscribe("gridledger/+/+/+/readings", received.append)
>>> open_transport("memory://doc", "dev").publish("gridledger/north/s1/s1-pv/readings", b"...")
>>> received[0].topic
'gridledger/north/s1/s1-pv/readings'
"""

from gridledger.telemetry.base import Delivery, Handler, Transport, open_transport
from gridledger.telemetry.ingest import REASONS, BatchResult, CheckedBatch, Ingestor, run_ingest
from gridledger.telemetry.topics import parse_topic, readings_filter, topic, topic_matches

__all__ = [
    "REASONS",
    "BatchResult",
    "CheckedBatch",
    "Delivery",
    "Handler",
    "Ingestor",
    "Transport",
    "open_transport",
    "parse_topic",
    "readings_filter",
    "run_ingest",
    "topic",
    "topic_matches",
]
