"""Delivery positions: what each account traded in a slot against what its meter measured.

After a slot is delivered, each account's imbalance is its metered net import minus its traded net
purchase (:attr:`~gridledger.ledger.trades.Delivery.imbalance_wh`), settled on chain at the
slot's grid prices. :func:`delivery_positions` derives both sides from the store alone:

* traded: the slot's stored trades, ``bought_wh`` per buyer and ``sold_wh`` per seller [Wh];
* metered: the register deltas of the bidirectional energy counters (kind ``bec``, OBIS 1.8.0
  import / 2.8.0 export) of every site the account owns, over the slot, as
  :meth:`~gridledger.store.base.Store.energy_per_interval` counts them: the delta between two
  consecutive readings belongs to the slot that holds the later one, so the stored readings of
  the slot (the leaves of its readings root) carry the slot's metered energy.

An account that traded but whose meters reported nothing in the slot is refused: missing data is
not zero consumption, and settling it as such would pay or charge the account for energy it may
well have moved. The exception is an account the caller names unmetered (an energy company: what
it buys is delivered to it through the grid operator, not a site meter): it has no position.
Accounts with meter readings and no trades settle their whole net flow at grid prices, as
households without a market would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from gridledger.errors import LedgerError
from gridledger.identity import address_bytes, checksum
from gridledger.ledger.trades import Delivery
from gridledger.store import Store

#: The device kind whose registers measure a site's grid connection.
METER_KIND = "bec"


def delivery_positions(
    store: Store,
    region: str,
    slot_start_s: int,
    slot_seconds: int,
    is_unmetered: Callable[[bytes], bool] | None = None,
) -> list[Delivery]:
    """Every metered account's traded and metered position in the slot [Wh], sorted by account.

    Raises :class:`~gridledger.errors.LedgerError` when an account traded in the slot but none of
    its meters reported in it, unless ``is_unmetered(account)`` (asked of those accounts only).
    """
    traded: dict[bytes, list[int]] = defaultdict(lambda: [0, 0])
    for t in store.list_trades(region, slot_start_s):
        traded[address_bytes(t.buyer)][0] += t.energy_wh
        traded[address_bytes(t.seller)][1] += t.energy_wh
    metered: dict[bytes, list[int]] = {}
    start_ms = slot_start_s * 1000
    end_ms = start_ms + slot_seconds * 1000
    for site in store.list_sites(region):
        for interval in store.energy_per_interval(site.site_id, start_ms, end_ms, slot_seconds):
            if interval.kind == METER_KIND:
                position = metered.setdefault(site.owner, [0, 0])
                position[0] += interval.import_wh
                position[1] += interval.export_wh
    silent = sorted(set(traded) - set(metered))
    if is_unmetered is not None:
        silent = [a for a in silent if not is_unmetered(a)]
    if silent:
        names = ", ".join(checksum(a) for a in silent[:5])
        more = f" and {len(silent) - 5} more" if len(silent) > 5 else ""
        raise LedgerError(
            f"slot {slot_start_s} of {region!r}: {len(silent)} account(s) traded but no meter of "
            f"theirs reported in the slot ({names}{more}); store their BEC readings first "
            "(missing data is not zero consumption)"
        )
    return [
        Delivery(account, *traded.get(account, (0, 0)), *metered[account])
        for account in sorted(metered)
    ]
