"""The live platform: opens the store, the chain and the telemetry transport from the settings,
runs every region's stages and the simulated neighbourhood on one clock, and stops cleanly.

:class:`Platform` is what ``gridledger serve`` runs and what the API reads. Background tasks are
threads (the chain and the store are blocking libraries):

* **ingest**: readings from the transport go through :class:`~gridledger.telemetry.Ingestor`
  (checked, de-duplicated, stored in one transaction per batch) and are acknowledged to the
  transport only after the commit; each stored reading becomes a ``power`` event. The loop uses
  :meth:`Ingestor.check` / :meth:`Ingestor.commit` directly rather than ``run_ingest`` because the
  stream needs the accepted rows, which ``run_ingest`` does not hand out;
* **region loop** (one thread for all regions): devices publish their readings, home controllers
  place orders for the open slot, each region clears, settles and settles deliveries
  (:meth:`~gridledger.service.region.RegionService.tick`).

:meth:`Platform.stop` (SIGTERM) lets the current step finish, then closes the transport (whatever
was not acknowledged stays in the broker's session), the store and the chain. After a SIGKILL,
:meth:`Platform.open` resumes: devices continue from their stored readings, the journal brings back
accepted orders of unsettled slots, slots whose gate closed meanwhile are cleared once, and
settled slots without their delivery are delivered.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from datetime import UTC, datetime

from gridledger.chain import open_ledger
from gridledger.chain.backend import LedgerBackend
from gridledger.config import Config
from gridledger.errors import ConfigError, GridLedgerError
from gridledger.identity import Domain, Signer, checksum, keccak
from gridledger.ledger.registry import Role as ChainRole
from gridledger.market import RuleSet
from gridledger.operator.region import RegionOperator, demo_keys, market_tariffs
from gridledger.service.access import Principal
from gridledger.service.clock import Clock, ScaledClock
from gridledger.service.controllers import place_slot_orders
from gridledger.service.demo import DemoKeys
from gridledger.service.events import Event, EventBus
from gridledger.service.feeder import LiveFeeder
from gridledger.service.journal import Journal
from gridledger.service.metrics import Metrics
from gridledger.service.neighbourhood import ACK_SUFFIX, Neighbourhood
from gridledger.service.options import Health, ServeOptions
from gridledger.service.plant import CommandLog
from gridledger.service.plant_faults import PlantFaults
from gridledger.service.principals import Principals
from gridledger.service.queries import Queries
from gridledger.service.reconnect import ReconnectingStore
from gridledger.service.region import RegionService
from gridledger.service.signin import SignIn
from gridledger.service.vens import LiveVens
from gridledger.service.vtn import Vtn
from gridledger.sim.city import example_company
from gridledger.store import Store
from gridledger.telemetry import Delivery, Ingestor, Transport, open_transport, readings_filter

log = logging.getLogger(__name__)

#: Escrow given to each demo household and company, and to the operator for feed-in credits.
HOUSEHOLD_DEPOSIT_MICRO = 10**11
OPERATOR_DEPOSIT_MICRO = 10**12
CLOCK_FILE = "serve-clock.json"
#: How long a looked-up principal (roles, sites) is reused [wall s].


class Platform:
    """The live platform (module docstring)."""

    def __init__(self, cfg: Config, options: ServeOptions, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.options = options
        self.data_dir = cfg.data_path
        self.chain_id = int(cfg["chain_id"])
        self.rules = RuleSet.from_config(cfg)
        self._clock = clock
        self.metrics = Metrics()
        self.bus = EventBus()
        self.health = Health()
        self.admin, self.operator_key = demo_keys()
        self.regions: dict[str, RegionService] = {}
        self.neighbourhoods: dict[str, Neighbourhood] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self._retry: list[Delivery] = []  # a batch whose commit failed (the store was down)
        self._ingest_stale = False
        self._registry_changed = threading.Event()
        self.principals = Principals(self.admin, self.regions, lambda: self.queries)
        self._planned: set[tuple[str, int]] = set()
        self._device_sites: dict[str, tuple[str, str, str]] = {}
        self.signin = SignIn(options.domain, options.public_url, self.chain_id, self.principal_of)
        self.backend: LedgerBackend | None = None
        self.store: Store | None = None
        self.transport: Transport | None = None
        self.command_transport: Transport | None = None
        self.device_transport: Transport | None = None
        self.faults: PlantFaults | None = None
        self.vtn: Vtn | None = None
        self.vens: dict[str, LiveVens] = {}
        self.feeders: dict[str, LiveFeeder] = {}

    @property
    def clock(self) -> Clock:
        assert self._clock is not None, "open() the platform first"
        return self._clock

    @property
    def queries(self) -> Queries:
        assert self.store is not None, "open() the platform first"
        return Queries(self.store)

    @property
    def reading_domain(self) -> Domain:
        return Domain(self.chain_id)

    # --- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        """Open store, chain and transport; deploy or re-open every region; resume.

        On failure everything opened so far is closed again and the error raised."""
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create data_dir {self.data_dir}: {exc}") from exc
        self.store = ReconnectingStore.open(self.cfg.store_location)
        url, process = self.cfg["ledger_url"], self.options.chain_process
        self.backend = open_ledger(url, self.data_dir, self.chain_id, process=process)
        url = self.cfg["telemetry_url"]
        # one client (persistent session) per role, as separate processes would have: ingest,
        # the command sender, and the simulated devices; named after the data dir, so two
        # platforms on one broker keep their own sessions and a restart finds its own again
        tag = keccak(str(self.data_dir.resolve()).encode()).hex()[:8]
        self.transport = open_transport(url, f"gridledger-serve-{tag}-ingest")
        self.command_transport = open_transport(url, f"gridledger-serve-{tag}-commands")
        self.device_transport = open_transport(url, f"gridledger-serve-{tag}-devices")
        queries = self.queries
        if self._clock is None:
            self._clock = ScaledClock(self.options.speed, self._resume_time(queries))
        self.commands = CommandLog(
            Journal(self.data_dir / "serve-commands.jsonl"),
            self.command_transport,
            self.reading_domain,
        )
        self.signin.attach(Journal(self.data_dir / "serve-sessions.jsonl"))  # sign-ins survive
        self.demo_keys = DemoKeys(self.cfg.keystore_path)
        if self.options.demo:
            self.demo_keys.install("demo-admin", self.admin)
            self.demo_keys.install("demo-operator", self.operator_key)
        for name in self.options.regions:
            self._open_region(name, queries)
        self.vtn = Vtn.open(self.data_dir, self.clock.now, queries, list(self.regions))
        for name, hood in self.neighbourhoods.items():
            self.vens[name] = LiveVens(name, hood, self.vtn, self.bus, self.rules.clock.length_s)
            if self.options.feeder_kva is not None:
                self.feeders[name] = LiveFeeder(
                    name, hood, self.vtn, self.metrics, self.operator_key.address,
                    self.options.feeder_kva,
                )  # fmt: skip
        self._open_faults()
        self.ingestor = Ingestor(self.store, self.reading_domain, clock_ms=self.clock.now_ms)
        self.transport.subscribe(readings_filter(), self._inbox.put)
        self.command_transport.subscribe("gridledger/+/+/+/commands" + ACK_SUFFIX, self._on_ack)
        for hood in self.neighbourhoods.values():
            hood.listen_for_commands()
        self.health.started = True

    def _open_faults(self) -> None:
        """The live fault detection of every region with simulated households
        (:mod:`gridledger.service.plant_faults`), and the outages injected for tests."""
        assert self.store is not None
        for site_id, at in self.options.outages:
            region = site_id.rsplit("-", 1)[0]
            hood = self.neighbourhoods.get(region)
            if hood is None:
                raise ConfigError(
                    f"cannot inject an outage at {site_id!r}: no simulated region {region!r}"
                )
            hood.inject_outage(site_id, int(at.timestamp() * 1000))
        first = next(iter(self.neighbourhoods.values()), None)
        if first is None:
            return
        self.faults = PlantFaults(
            self.store,
            self.bus,
            slot_s=self.rules.clock.length_s,
            grace_s=2 * self.options.reading_interval_s,
            latitude=first.lat_deg,
            longitude=first.lon_deg,
        )
        now_ms = self.clock.now_ms()
        for name in self.neighbourhoods:
            self.faults.watch(name, now_ms)

    def check_faults(self) -> int:
        """Run the fault detectors over the slots whose readings are in; slots judged."""
        if self.faults is None:
            return 0
        return self.faults.tick(self.clock.now_ms())

    def _resume_time(self, queries: Queries) -> datetime:
        """Where the clock starts: ``options.start`` (or now), but never before what the data
        dir already holds (its newest reading, the clock recorded at the last stop)."""
        now = self.options.start or datetime.now(UTC)
        latest = queries.latest_reading_ms()
        candidates = [now]
        if latest is not None:
            candidates.append(datetime.fromtimestamp(latest / 1000 + 1, UTC))
        try:
            saved = json.loads((self.data_dir / CLOCK_FILE).read_text())["now_ms"]
            candidates.append(datetime.fromtimestamp(int(saved) / 1000, UTC))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return max(candidates)

    def _open_region(self, name: str, queries: Queries) -> None:
        assert self.backend is not None and self.store is not None
        assert self.device_transport is not None
        op = RegionOperator.open(
            self.backend,
            self.store,
            self.data_dir,
            name,
            admin=self.admin,
            operator=self.operator_key,
            tariffs=market_tariffs(self.rules.tariff),
            slot_seconds=self.rules.clock.length_s,
        )
        queries.ensure_region(name, self.operator_key.address_bytes)
        company = example_company(name)
        service = RegionService(
            op,
            self.rules,
            queries=queries,
            journal=Journal(self.data_dir / f"serve-orders-{name}.jsonl"),
            bus=self.bus,
            metrics=self.metrics,
            clock=self.clock,
            company=company.key,
            company_name=company.name,
        )
        if self.options.demo:
            self.demo_keys.install(f"demo-company-{name}", company.key)
        if self.options.households:
            hood = Neighbourhood(
                name,
                self.options.households,
                self.device_transport,
                self.reading_domain,
                seed=self.options.seed,
                reading_interval_s=self.options.reading_interval_s,
            )
            now_ms = self.clock.now_ms()
            for site in hood.sites:
                site.register(self.store, now_ms)
            hood.restore(
                queries.last_readings(),
                self.commands.applied_nonces(),
                self.commands.applied_settings(),
            )
            if self.options.demo:
                for site in hood.sites:
                    self.demo_keys.install(f"demo-{site.site_id}", site.owner)
            owners = [s.owner.address_bytes for s in hood.sites]
            op.onboard(self.admin, owners, deposit_micro=HOUSEHOLD_DEPOSIT_MICRO)
            self.neighbourhoods[name] = hood
        op.onboard(
            self.admin,
            [company.key.address_bytes],
            deposit_micro=HOUSEHOLD_DEPOSIT_MICRO,
            role=ChainRole.COMPANY,
        )
        self._fund_operator(op)
        self.regions[name] = service
        service.replay()
        service.resume_deliveries()

    def _fund_operator(self, op: RegionOperator) -> None:
        if op.market.escrow_of(self.operator_key.address_bytes) >= OPERATOR_DEPOSIT_MICRO // 2:
            return  # funded by an earlier run on this chain
        op.deployment.token.mint(
            self.admin, self.operator_key.address_bytes, OPERATOR_DEPOSIT_MICRO
        )
        op.market.deposit(self.operator_key, OPERATOR_DEPOSIT_MICRO)

    def start(self) -> None:
        """Start the background threads (after :meth:`open`)."""
        for target, name in ((self._ingest_loop, "ingest"), (self._region_loop, "regions")):
            t = threading.Thread(target=target, name=f"gridledger-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self.health.ready = True

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the current step of every task, then close everything (SIGTERM)."""
        self.health.stopping = True
        self.health.ready = False
        self._stop.set()
        for t in self._threads:
            t.join(timeout_s)
        self._threads.clear()
        self._save_clock()
        self.close()

    def close(self) -> None:
        """Close the transport, the store and the chain (idempotent)."""
        transports = (self.device_transport, self.command_transport, self.transport)
        store, backend = self.store, self.backend
        self.transport = self.command_transport = self.device_transport = None
        self.backend = None
        for transport in transports:
            if transport is not None:
                transport.close()
        if store is not None:
            store.close()
        if backend is not None:
            backend.close()

    def _save_clock(self) -> None:
        if self._clock is None:
            return
        tmp = self.data_dir / (CLOCK_FILE + ".tmp")
        try:
            tmp.write_text(json.dumps({"now_ms": self.clock.now_ms()}))
            tmp.replace(self.data_dir / CLOCK_FILE)
        except OSError as exc:
            log.warning("cannot record the clock in %s: %s", self.data_dir, exc)

    # --- the loops ------------------------------------------------------------------------------

    def run_once(self) -> None:
        """One step of everything, in this thread (tests drive a manual clock with it)."""
        self.step_devices()
        self.ingest_pending(0.05)
        self.place_demo_orders()
        self.tick_regions()
        self.check_faults()

    def _region_loop(self) -> None:
        last_save = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.step_devices()
                self.place_demo_orders()
                self.tick_regions()
                self.check_faults()
            except GridLedgerError as exc:
                self.health.errors["regions"] += 1
                log.error("region loop: %s", exc)
            self.health.last_loop_ms = int(time.time() * 1000)
            if started - last_save > 1.0:
                self._save_clock()
                last_save = started
            self._stop.wait(max(0.0, self.options.tick_s - (time.monotonic() - started)))

    def _ingest_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.ingest_pending(0.05)
            except GridLedgerError as exc:  # the store is down: the broker keeps the readings
                self.health.errors["ingest"] += 1
                log.error("ingest: %s", exc)
                self._stop.wait(1.0)

    def registry_changed(self) -> None:
        """A device was registered: ingest reloads the registry before its next batch."""
        self._registry_changed.set()
        self.accounts_changed()

    def step_devices(self) -> int:
        now_ms = self.clock.now_ms()
        return sum(h.step(now_ms) for h in self.neighbourhoods.values())

    def ingest_pending(self, max_wait_s: float) -> int:
        """Ingest what the transport delivered (waiting up to ``max_wait_s`` for the first)."""
        if self._ingest_stale:
            self.ingestor.reload()  # raises while the store is down: nothing is checked
            self._ingest_stale = False
        if self._registry_changed.is_set():
            self._registry_changed.clear()
            self.ingestor.refresh_registry()  # devices registered through the API
        batch: list[Delivery] = self._retry[: self.options.ingest_batch]
        del self._retry[: len(batch)]
        if not batch:
            try:
                batch.append(self._inbox.get(timeout=max_wait_s))
            except queue.Empty:
                return 0
        while len(batch) < self.options.ingest_batch:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        started = time.monotonic()
        checked = self.ingestor.check([(d.topic, d.payload) for d in batch])
        try:
            result = self.ingestor.commit(checked)
        except GridLedgerError:
            # nothing of the batch was stored: try it again once the store answers, with the
            # per-device state reloaded from the store (check() advanced it for this batch)
            self._retry[:0] = batch
            self._ingest_stale = True
            raise
        for d in batch:
            d.ack()
        self.metrics.readings_ingested.inc(result.accepted)
        for reason, n in result.rejected.items():
            self.metrics.rejections.labels("reading", reason).inc(n)
        elapsed = max(time.monotonic() - started, 1e-6)
        self.metrics.ingest_rate.set(result.accepted / elapsed)
        newest = 0
        for r in checked.readings:
            newest = max(newest, r.ts_ms)
            where = self._device_site(r.device_id)
            if where is None:
                continue
            region, site_id, kind = where
            self.bus.publish(
                Event(
                    "power",
                    region,
                    {
                        "site_id": site_id,
                        "device_id": r.device_id,
                        "device_kind": kind,
                        "power_w": r.power_w,
                        "soc_permille": r.soc_permille,
                        "ts_ms": r.ts_ms,
                    },
                    site=site_id,
                )
            )
        if newest:
            lag = max(0.0, (self.clock.now_ms() - newest) / 1000)
            for region in self.regions:
                self.metrics.lag.labels(region, "ingest").set(lag)
        return result.accepted

    def _device_site(self, device_id: str) -> tuple[str, str, str] | None:
        found = self._device_sites.get(device_id)
        if found is None:
            assert self.store is not None
            device = self.store.get_device(device_id)
            site = None if device is None else self.store.get_site(device.site_id)
            if device is None or site is None:
                return None
            found = self._device_sites[device_id] = (site.region, site.site_id, device.kind)
        return found

    def _on_ack(self, delivery: Delivery) -> None:
        record = self.commands.on_ack(delivery)
        if record is None:
            return
        region = delivery.topic.split("/")[1]
        self.bus.publish(
            Event(
                "command",
                region,
                {
                    "id": record.id,
                    "site_id": record.site_id,
                    "device_id": record.device_id,
                    "action": record.action,
                    "value": record.value,
                    "status": record.status,
                    "detail": record.detail,
                },
                site=record.site_id,
            )
        )
        if record.status == "refused":
            self.metrics.rejections.labels("command", "refused_by_device").inc()

    def place_demo_orders(self) -> int:
        """The home controllers' orders (and the company's offer) for each region's open slot
        (:mod:`gridledger.service.controllers`), once per slot."""
        placed = 0
        for name, hood in self.neighbourhoods.items():
            service = self.regions[name]
            slot = service.open_slot()
            if (name, slot.start_s) not in self._planned:
                # keep the set to the slots still open
                self._planned = {k for k in self._planned if k[1] >= slot.start_s}
                self._planned.add((name, slot.start_s))
                if name in self.feeders:  # the orders below follow what the check issues
                    self.feeders[name].check(slot.start_s, slot.length_s)
                placed += place_slot_orders(
                    service, hood, self.metrics, self.commands.sale_companies(), self.vens.get(name)
                )
        return placed

    def tick_regions(self) -> None:
        for name, service in self.regions.items():
            try:
                service.tick()
            except GridLedgerError as exc:
                self.metrics.stage_errors.labels(name, "tick").inc()
                log.error("region %s: %s", name, exc)

    # --- who is who -----------------------------------------------------------------------------

    def principal_of(self, address: str) -> Principal:
        """The roles of ``address`` (:class:`~gridledger.service.principals.Principals`)."""
        return self.principals.of(address)

    def accounts_changed(self) -> None:
        """A household, company or device was registered: roles are looked up again."""
        self.principals.forget()

    def household_count(self, region: str) -> int:
        """Households with a site in ``region`` (:meth:`Principals.household_count`)."""
        return self.principals.household_count(region)

    def demo_signer(
        self, site_id: str | None = None, role: str | None = None, region: str | None = None
    ) -> Signer | None:
        """The demo account's key from the server's keystore (``None`` if there is none)."""
        if not self.options.demo:
            return None
        if site_id is not None:
            known = any(site_id in hood.owners for hood in self.neighbourhoods.values())
            return self.demo_keys.load(f"demo-{site_id}") if known else None
        if role in ("operator", "admin"):
            return self.demo_keys.load(f"demo-{role}")
        if role == "company":
            name = region or next(iter(self.regions), None)
            if name not in self.regions:
                return None
            return self.demo_keys.load(f"demo-company-{name}")
        return None

    def signer_for(self, address: str) -> Signer | None:
        """The server-held key of a demo account by address (server-signed orders)."""
        if not self.options.demo:
            return None
        for hood in self.neighbourhoods.values():
            for signer in hood.owners.values():
                if signer.address == checksum(address):
                    return signer
        for service in self.regions.values():
            if service.company is not None and service.company.address == checksum(address):
                return service.company
        return None

    def region(self, name: str) -> RegionService:
        from gridledger.service.access import NotFoundError

        service = self.regions.get(name)
        if service is None:
            raise NotFoundError(f"no region {name!r}; see GET /api/v1/regions")
        return service

    def uptime_ok(self) -> bool:
        """Ready: opened, threads alive, the loop stepped within the last 10 s."""
        if not self.health.ready:
            return False
        if any(not t.is_alive() for t in self._threads):
            return False
        return int(time.time() * 1000) - self.health.last_loop_ms < 10_000 or not self._threads


__all__ = ["Platform", "ServeOptions"]
