"""Telemetry: transports (in-process, MQTT) and ingest (verify, de-duplicate, store).

>>> from gridledger.telemetry import open_transport
>>> received = []
>>> sub = open_transport("memory://doc", "ingest")
>>> sub.subscribe("gridledger/+/+/+/readings", received.append)
>>> open_transport("memory://doc", "dev").publish("gridledger/north/s1/s1-pv/readings", b"...")
>>> received[0].topic
'gridledger/north/s1/s1-pv/readings'

A household's devices as one source (:class:`Site`):

>>> from gridledger.identity import Domain
>>> site = Site.household("s1", "north")
>>> grid_w = site.step(pv_w=3000, load_w=800, dt_ms=900_000)
>>> [(t.split("/")[-2], len(p)) for t, p in site.readings(1_780_000_000_000, Domain(1337))][:2]
[('s1-pv', 169), ('s1-battery', 169)]
"""

from gridledger.devices.topics import parse_topic, readings_filter, topic, topic_matches
from gridledger.telemetry.base import Delivery, Handler, Transport
from gridledger.telemetry.ingest import REASONS, BatchResult, CheckedBatch, Ingestor, run_ingest
from gridledger.telemetry.opening import open_transport
from gridledger.telemetry.site import Site, make_sites, traffic

__all__ = [
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
