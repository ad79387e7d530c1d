"""Ingest: verify signed readings, refuse bad ones with a reason, store the rest durably.

:class:`Ingestor` checks a batch of wire payloads (:mod:`gridledger.devices.messages`) against the
device registry in the store and writes the accepted readings in one transaction and the rejections
in another. A reading is refused, with the reason code recorded in the store, when it is:

==========================  ========================================================================
``malformed``               not a reading record (length, tag, region, kind, or a value > 2**63-1)
``unknown_device``          signed payload names a device address that is not registered
``wrong_region``            the region in the reading is not the device's registered region
``wrong_kind``              the device kind in the reading is not the registered kind
``topic_mismatch``          the topic names another site or device than the signed payload
``bad_signature``           the signature is malformed or was not made by the device's key
``duplicate``               the very reading is stored already (a QoS 1 redelivery; harmless)
``replay``                  sequence not above the last accepted one, content differs
``future_timestamp``        more than ``max_future_ms`` ahead of the ingest clock
``timestamp_backwards``     earlier than the device's previous reading
``register_backwards``      a cumulative register below its previous value
==========================  ========================================================================

No payload makes ingest raise: anything unexpected while checking one is a ``malformed`` rejection.

Acknowledgement: :func:`run_ingest` acknowledges a transport delivery only after the batch that
holds it is committed to the store, so a crash at any point leaves every unacknowledged message in
the broker's session to be redelivered; the store de-duplicates on ``(device_id, sequence)`` and
ingest classifies the second copy as ``duplicate``. Run one ingest per store (the per-device state
lives in memory and is loaded from the store on start).

Run it as ``gridledger ingest`` or ``python -m gridledger.telemetry.ingest``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import queue
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from gridledger.devices.messages import (
    READING,
    READING_LAYOUT,
    READING_SIZE,
    READING_TAG,
    READING_WORDS_LAYOUT,
    DeviceKind,
)
from gridledger.devices.topics import readings_filter
from gridledger.identity import Domain, FastRecoverer, keccak, region_id
from gridledger.store import ReadingRow, Rejection, Store
from gridledger.telemetry.base import Delivery, Transport

log = logging.getLogger(__name__)

REASONS = (
    "malformed",
    "unknown_device",
    "wrong_region",
    "wrong_kind",
    "topic_mismatch",
    "bad_signature",
    "duplicate",
    "replay",
    "future_timestamp",
    "timestamp_backwards",
    "register_backwards",
)
DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000
MAX_STORED_REJECTED_PAYLOAD = 4096

_BODY = READING_LAYOUT
_WORDS = READING_WORDS_LAYOUT
_BODY_SIZE = _BODY.size
_ZERO24 = bytes(24)
_ONES24 = b"\xff" * 24
_I63 = 1 << 63


@dataclass(slots=True)
class _DeviceState:
    device_id: str
    site_id: str
    region: str
    region_raw: bytes
    kind: int
    last_seq: int = 0
    last_ts: int = -1
    last_import: int = 0
    last_export: int = 0


@dataclass
class BatchResult:
    """What one :meth:`Ingestor.process` call did."""

    accepted: int = 0
    stored: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass
class CheckedBatch:
    """A checked batch waiting for :meth:`Ingestor.commit`."""

    readings: list[ReadingRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    result: BatchResult = field(default_factory=BatchResult)


T = TypeVar("T")


class Ingestor:
    """Checks and stores batches of signed readings; keeps counts by outcome in :attr:`stats`.

    ``clock_ms`` returns the current Unix time [ms] (injectable for tests).
    """

    def __init__(
        self,
        store: Store,
        domain: Domain,
        *,
        max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.domain = domain
        self.max_future_ms = max_future_ms
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._prefix = b"\x19\x01" + domain.separator
        self._type_hash = READING.type_hash
        self._recoverer = FastRecoverer()
        self._devices: dict[bytes, _DeviceState] = {}
        # accepted readings not yet committed, for telling duplicates from replays
        self._unstored: dict[tuple[str, int], bytes] = {}
        self.stats: Counter[str] = Counter()
        self.refresh_registry()

    def refresh_registry(self) -> None:
        """(Re)load registered devices and, for new ones, their latest stored reading."""
        sites = {s.site_id: s for s in self.store.list_sites()}
        latest: dict[str, ReadingRow] | None = None
        for device in self.store.list_devices():
            address = bytes(device.address)
            if address in self._devices:
                continue
            site = sites.get(device.site_id)
            if site is None or device.kind not in _KIND_BY_NAME:
                continue
            state = _DeviceState(
                device.device_id,
                device.site_id,
                site.region,
                region_id(site.region),
                _KIND_BY_NAME[device.kind],
            )
            if latest is None:
                latest = self.store.latest_state()
            last = latest.get(device.device_id)
            if last is not None:
                state.last_seq = last.sequence
                state.last_ts = last.ts_ms
                state.last_import = last.import_wh or 0
                state.last_export = last.export_wh or 0
            self._devices[address] = state

    def reload(self) -> None:
        """Forget the in-memory per-device state and load it again from the store."""
        self._devices.clear()
        self._unstored.clear()
        self.refresh_registry()

    def process(self, batch: Sequence[tuple[str | None, bytes]]) -> BatchResult:
        """Check ``(topic, payload)`` pairs; store accepted readings and rejections durably.

        ``topic`` may be ``None`` (not checked). Raises :class:`~gridledger.errors.StoreError` only
        when the store fails; then nothing of the batch is acknowledged and the in-memory state is
        reloaded from the store, so the batch can be retried.
        """
        checked = self.check(batch)
        try:
            return self.commit(checked)
        except BaseException:
            self.reload()
            raise

    def process_stream(
        self, batches: Iterable[tuple[T, Sequence[tuple[str | None, bytes]]] | None]
    ) -> Iterator[tuple[T, BatchResult]]:
        """Pipelined :meth:`process`: check a batch while the previous one is being committed.

        ``batches`` yields ``(token, batch)`` pairs, or ``None`` when idle (then the batch in flight
        is finished at once). Yields ``(token, result)`` in order, each once its batch is durable.
        The store write runs on a worker thread (the database works, and the GIL is released,
        while the next batch's signatures are checked). A store failure is raised after the
        in-memory state is reloaded from the store.
        """
        inflight: tuple[T, Future[BatchResult]] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="ingest-commit") as pool:
            try:
                for item in batches:
                    if item is None:
                        if inflight is not None:
                            yield inflight[0], inflight[1].result()
                            inflight = None
                        continue
                    token, batch = item
                    checked = self.check(batch)
                    if inflight is not None:
                        yield inflight[0], inflight[1].result()
                    inflight = (token, pool.submit(self.commit, checked))
                if inflight is not None:
                    yield inflight[0], inflight[1].result()
                    inflight = None
            except BaseException:
                if inflight is not None:
                    wait([inflight[1]])
                self.reload()
                raise

    def check(self, batch: Sequence[tuple[str | None, bytes]]) -> CheckedBatch:
        """First half of :meth:`process`: verify and classify, advance the in-memory state."""
        now = self._clock_ms()
        checked = CheckedBatch()
        refreshed = False
        for topic, payload in batch:
            try:
                outcome = self._check(topic, payload, now, refreshed)
                if outcome == "unknown_device" and not refreshed:
                    self.refresh_registry()
                    refreshed = True
                    outcome = self._check(topic, payload, now, refreshed)
            except Exception as exc:  # never let a payload stop ingest
                log.debug("unexpected error checking a payload", exc_info=True)
                outcome = ("malformed", None, f"unexpected {type(exc).__name__}: {exc}")
            if isinstance(outcome, ReadingRow):
                checked.readings.append(outcome)
                continue
            if isinstance(outcome, str):  # pragma: no cover - handled above
                outcome = (outcome, None, "")
            reason, device_id, detail = outcome
            checked.result.rejected[reason] += 1
            raw = payload if isinstance(payload, bytes) else b""
            checked.rejections.append(
                Rejection(now, device_id, reason, detail, raw[:MAX_STORED_REJECTED_PAYLOAD])
            )
        checked.result.accepted = len(checked.readings)
        return checked

    def commit(self, checked: CheckedBatch) -> BatchResult:
        """Second half of :meth:`process`: write the batch (readings, then rejections)."""
        result = checked.result
        if checked.readings:
            result.stored = self.store.insert_readings(checked.readings)
        if checked.rejections:
            self.store.record_rejections(checked.rejections)
        for reading in checked.readings:
            self._unstored.pop((reading.device_id, reading.sequence), None)
        self.stats["accepted"] += result.accepted
        self.stats.update(result.rejected)
        return result

    def _check(
        self, topic: str | None, payload: bytes, now: int, refreshed: bool
    ) -> ReadingRow | tuple[str, str | None, str] | str:
        if not isinstance(payload, bytes) or len(payload) != READING_SIZE:
            size = len(payload) if isinstance(payload, bytes) else type(payload).__name__
            return ("malformed", None, f"a reading is {READING_SIZE} bytes, got {size}")
        body = payload[:_BODY_SIZE]
        (tag, region, address, seq, ts, kind, imp, exp, power, soc, soh, st, alarms) = _BODY.unpack(
            body
        )
        if tag != READING_TAG:
            return ("malformed", None, f"format tag {tag:#04x} is not a reading")
        if seq >= _I63 or ts >= _I63 or imp >= _I63 or exp >= _I63:
            return ("malformed", None, "sequence, timestamp or register above 2**63-1")
        state = self._devices.get(address)
        if state is None:
            if not refreshed:
                return "unknown_device"
            return ("unknown_device", None, f"no registered device has address 0x{address.hex()}")
        device_id = state.device_id
        if region != state.region_raw:
            return ("wrong_region", device_id, "region differs from the device's registered one")
        if kind != state.kind:
            return ("wrong_kind", device_id, f"kind {kind} is not the registered {state.kind}")
        if topic is not None:
            parts = topic.split("/")
            if (
                len(parts) != 5
                or parts[3] != device_id
                or parts[2] != state.site_id
                or parts[1] != state.region
            ):
                return ("topic_mismatch", device_id, f"topic {topic!r} names another device")
        digest = keccak(
            self._prefix
            + keccak(
                self._type_hash
                + _WORDS.pack(
                    region,
                    address,
                    seq,
                    ts,
                    kind,
                    imp,
                    exp,
                    _ONES24 if power < 0 else _ZERO24,
                    power,
                    soc,
                    soh,
                    st,
                    alarms,
                )
            )
        )
        signature = payload[_BODY_SIZE:]
        if self._recoverer.address(digest, signature) != address:
            return ("bad_signature", device_id, "signature not made by the device's registered key")
        last_seq, last_ts = state.last_seq, state.last_ts
        last_imp, last_exp = state.last_import, state.last_export
        if seq <= last_seq:
            if self._is_stored(device_id, seq, ts, payload):
                return ("duplicate", device_id, f"sequence {seq} is stored already")
            return ("replay", device_id, f"sequence {seq} is not above the last {last_seq}")
        if ts > now + self.max_future_ms:
            return ("future_timestamp", device_id, f"timestamp {ts} ms is {ts - now} ms ahead")
        if ts < last_ts:
            return ("timestamp_backwards", device_id, f"timestamp {ts} ms < previous {last_ts} ms")
        if imp < last_imp or exp < last_exp:
            return (
                "register_backwards",
                device_id,
                f"registers import {imp} / export {exp} Wh below previous {last_imp} / {last_exp}",
            )
        state.last_seq, state.last_ts, state.last_import, state.last_export = seq, ts, imp, exp
        self._unstored[(device_id, seq)] = payload
        if kind == _ACCUMULATOR:
            return ReadingRow(
                device_id, seq, ts, imp, exp, power, body, signature, soc,
                {"soh_permille": soh, "state": st, "alarms": alarms},
            )  # fmt: skip
        extra = {"state": st, "alarms": alarms} if st or alarms else None
        return ReadingRow(device_id, seq, ts, imp, exp, power, body, signature, None, extra)

    def _is_stored(self, device_id: str, seq: int, ts: int, payload: bytes) -> bool:
        """True when exactly this reading is stored already or accepted and on its way there."""
        earlier = self._unstored.get((device_id, seq))
        if earlier is not None:
            return earlier == payload
        for stored in self.store.readings(device_id, ts, ts + 1):
            if stored.sequence == seq:
                return bytes(stored.payload) + bytes(stored.signature) == payload
        return False


_KIND_BY_NAME = {k.store_name: int(k) for k in DeviceKind}
_ACCUMULATOR = int(DeviceKind.ACCUMULATOR)


# --- the ingest loop -----------------------------------------------------------------------------


def run_ingest(
    transport: Transport,
    ingestor: Ingestor,
    *,
    topic_filter: str | None = None,
    batch_size: int = 500,
    max_wait_s: float = 0.02,
    stop: threading.Event | None = None,
    on_batch: Callable[[Sequence[Delivery], BatchResult], None] | None = None,
    idle_exit_s: float | None = None,
) -> Counter[str]:
    """Consume readings from ``transport`` until ``stop`` is set (or idle for ``idle_exit_s``).

    Deliveries are taken in batches of up to ``batch_size`` (waiting at most ``max_wait_s`` to fill
    one) and go through :meth:`Ingestor.process_stream`; each batch is acknowledged, in delivery
    order, only once it is committed. ``on_batch`` is called after the acks. Returns
    :attr:`Ingestor.stats`.
    """
    inbox: queue.Queue[Delivery] = queue.Queue()
    transport.subscribe(topic_filter or readings_filter(), inbox.put)
    stop = stop or threading.Event()
    batches = _batches(inbox, stop, batch_size, max_wait_s, idle_exit_s)
    for deliveries, result in ingestor.process_stream(batches):
        for delivery in deliveries:
            delivery.ack()
        if on_batch is not None:
            on_batch(deliveries, result)
    return ingestor.stats


def _batches(
    inbox: queue.Queue[Delivery],
    stop: threading.Event,
    batch_size: int,
    max_wait_s: float,
    idle_exit_s: float | None,
) -> Iterator[tuple[list[Delivery], list[tuple[str | None, bytes]]] | None]:
    last_activity = time.monotonic()
    while not stop.is_set():
        try:
            first = inbox.get_nowait()
        except queue.Empty:
            yield None  # idle: let the batch in flight finish and be acknowledged now
            try:
                first = inbox.get(timeout=0.1)
            except queue.Empty:
                if idle_exit_s is not None and time.monotonic() - last_activity > idle_exit_s:
                    return
                continue
        batch = [first]
        deadline = time.monotonic() + max_wait_s
        while len(batch) < batch_size:
            try:
                batch.append(inbox.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(inbox.get(timeout=remaining))
                except queue.Empty:
                    break
        last_activity = time.monotonic()
        yield batch, [(d.topic, d.payload) for d in batch]


def _ack_logger(stream: IO[str]) -> Callable[[Sequence[Delivery], BatchResult], None]:
    def write(batch: Sequence[Delivery], result: BatchResult) -> None:
        stream.write("".join(f"acked {d.topic} {d.payload.hex()}\n" for d in batch))
        stream.flush()

    return write


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m gridledger.telemetry.ingest``: run ingest until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m gridledger.telemetry.ingest")
    parser.add_argument("--store", required=True, help="store URL (sqlite:///PATH, postgresql://)")
    parser.add_argument("--telemetry", required=True, help="telemetry URL (mqtt://HOST:PORT)")
    parser.add_argument("--chain-id", type=int, required=True)
    parser.add_argument("--client-id", default="gridledger-ingest")
    parser.add_argument("--region", default=None, help="only this region (default: all)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--ack-log", default=None, help="append one line per acked message")
    args = parser.parse_args(list(argv) if argv is not None else None)
    return serve(
        args.store, args.telemetry, args.chain_id, args.client_id, args.region, args.batch_size,
        args.ack_log,
    )  # fmt: skip


def run_service(
    store_url: str,
    telemetry_url: str,
    chain_id: int,
    client_id: str = "gridledger-ingest",
    region: str | None = None,
    batch_size: int = 500,
    on_batch: Callable[[Sequence[Delivery], BatchResult], None] | None = None,
) -> dict[str, int]:
    """Open the transport and the store, run ingest until SIGTERM/SIGINT (handled when called
    on the main thread) and return the counts: the one pipeline of ``python -m
    gridledger.telemetry.ingest`` and ``gridledger ingest``.

    The broker is connected first: a run that cannot reach it leaves the store untouched."""
    from gridledger.store import open_store
    from gridledger.telemetry.opening import open_transport

    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    with contextlib.ExitStack() as stack:
        transport = open_transport(telemetry_url, client_id)
        stack.callback(transport.close)
        store = stack.enter_context(open_store(store_url))
        ingestor = Ingestor(store, Domain(chain_id))
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                stack.callback(signal.signal, signum, signal.signal(signum, _stop))
        return dict(
            run_ingest(
                transport,
                ingestor,
                topic_filter=readings_filter(region),
                batch_size=batch_size,
                stop=stop,
                on_batch=on_batch,
            )
        )


def serve(
    store_url: str,
    telemetry_url: str,
    chain_id: int,
    client_id: str = "gridledger-ingest",
    region: str | None = None,
    batch_size: int = 500,
    ack_log: str | None = None,
) -> int:
    """:func:`run_service`, appending one line per acked message to ``ack_log``; prints the
    counts on exit."""
    with contextlib.ExitStack() as stack:
        ack_stream = stack.enter_context(open(ack_log, "a")) if ack_log else None
        stats = run_service(
            store_url, telemetry_url, chain_id, client_id, region, batch_size,
            _ack_logger(ack_stream) if ack_stream else None,
        )  # fmt: skip
    print(f"ingest stopped: {stats}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
