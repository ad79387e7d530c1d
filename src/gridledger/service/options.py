"""How ``gridledger serve`` runs (:class:`ServeOptions`) and how healthy it is (:class:`Health`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ServeOptions:
    """How ``gridledger serve`` runs: simulated households per region, regions, clock speed,
    the seconds between device readings [clock s], the public URL (its host is the EIP-4361
    domain), whether demo sign-ins (server-held keys) are allowed, where the clock starts
    (``start``, aware UTC; default now), and whether the embedded chain runs in a child process
    (``chain_process``, default: its mining then never holds the server's interpreter, see
    :mod:`gridledger.chain.process`; ``False`` keeps it in this process, for debugging), and
    the transformer rating of every simulated region's feeder (``feeder_kva`` [kVA]; ``None``:
    no feeder check, :mod:`gridledger.service.feeder`)."""

    households: int = 10
    regions: tuple[str, ...] = ("central",)
    speed: float = 1.0
    seed: int = 7
    reading_interval_s: int = 60
    public_url: str = "http://127.0.0.1:8000"
    demo: bool = True
    tick_s: float = 0.2
    ingest_batch: int = 500
    start: datetime | None = None
    chain_process: bool = True
    #: injected PV outages for tests: ``(site_id, from)`` (aware UTC); empty in normal use
    outages: tuple[tuple[str, datetime], ...] = ()
    feeder_kva: float | None = None

    @property
    def domain(self) -> str:
        return self.public_url.split("://", 1)[-1].rstrip("/")


@dataclass
class Health:
    started: bool = False
    ready: bool = False
    stopping: bool = False
    errors: Counter[str] = field(default_factory=Counter)
    last_loop_ms: int = 0
