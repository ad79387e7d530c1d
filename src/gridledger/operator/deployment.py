"""A region's deployment record: its contract addresses on one chain, kept in the data dir.

``data_dir/deployment-<region>.json`` is small, human-readable and sits next to the embedded
chain; ``gridledger verify`` finds every region of a data directory through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eth_abi.exceptions import DecodingError

from gridledger.chain.backend import LedgerBackend
from gridledger.errors import GridLedgerError, LedgerError
from gridledger.identity import address_bytes, checksum, region_id
from gridledger.ledger.abi import ContractABI
from gridledger.ledger.deploy import RegionDeployment
from gridledger.ledger.registry import RegistryClient
from gridledger.ledger.settlement import MarketClient
from gridledger.ledger.token import TokenClient

DEPLOYMENT_PREFIX = "deployment-"


def deployment_path(data_dir: Path | str, region: str) -> Path:
    """Where a region's :class:`DeploymentRecord` lives: ``data_dir/deployment-<region>.json``."""
    return Path(data_dir) / f"{DEPLOYMENT_PREFIX}{region}.json"


@dataclass(frozen=True)
class DeploymentRecord:
    """A region's contract addresses on one chain, and the market rules the chain does not hold.

    ``slot_seconds`` finds a slot's readings; ``clearing_rule`` and ``gate_closure_s`` (with the
    grid prices each slot records on chain) let ``gridledger verify`` re-clear a stored slot and
    compare its result hash and trades.
    """

    region: str
    chain_id: int
    registry: str
    token: str
    market: str
    operator: str
    slot_seconds: int
    clearing_rule: str = "pay_as_clear"
    gate_closure_s: int = 60

    def save(self, data_dir: Path | str) -> Path:
        path = deployment_path(data_dir, self.region)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> DeploymentRecord:
        try:
            data = json.loads(Path(path).read_text())
            return cls(
                region=str(data["region"]),
                chain_id=int(data["chain_id"]),
                registry=str(data["registry"]),
                token=str(data["token"]),
                market=str(data["market"]),
                operator=str(data["operator"]),
                slot_seconds=int(data["slot_seconds"]),
                clearing_rule=str(data.get("clearing_rule", "pay_as_clear")),
                gate_closure_s=int(data.get("gate_closure_s", 60)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LedgerError(f"deployment record {path} is unreadable: {exc}") from exc

    def attach(self, backend: LedgerBackend) -> RegionDeployment:
        """The region's contract clients on ``backend`` (which must run this record's chain)."""
        if backend.chain_id != self.chain_id:
            raise LedgerError(
                f"region {self.region!r} was deployed on chain id {self.chain_id}, the ledger "
                f"runs chain id {backend.chain_id}; point ledger_url at the chain it was deployed "
                "on"
            )
        return RegionDeployment(
            RegistryClient(backend, address_bytes(self.registry)),
            TokenClient(backend, address_bytes(self.token)),
            MarketClient(backend, address_bytes(self.market)),
            region_id(self.region),
        )


def load_deployments(data_dir: Path | str) -> list[DeploymentRecord]:
    """Every region deployment recorded in ``data_dir``, by region name."""
    paths = sorted(Path(data_dir).glob(f"{DEPLOYMENT_PREFIX}*.json"))
    return sorted((DeploymentRecord.load(p) for p in paths), key=lambda r: r.region)


def find_deployment(
    backend: LedgerBackend,
    region: str,
    slot_seconds: int,
    operator: bytes | None = None,
    *,
    clearing_rule: str = "pay_as_clear",
    gate_closure_s: int = 60,
) -> DeploymentRecord | None:
    """Find ``region``'s contracts on the chain itself, for a data dir that lost its record.

    The registry is the contract that logged ``RegionAdded(region)``; the market is a contract
    that logged ``GridPricesSet`` (every market does, at deployment) and answers with this region
    and registry (and ``operator``, when given); the token is the market's. The newest such market
    wins. ``slot_seconds`` and the rule are not on chain: they come from the settings. ``None``
    when the chain holds no complete deployment of the region (then deploying it is safe).
    """
    rid = region_id(region)
    added = ContractABI.named("Registry").event_topic("RegionAdded")
    registries = {
        log.address for log in backend.get_logs(None, topic0=added) if log.topics[1:2] == (rid,)
    }
    if not registries:
        return None
    prices = ContractABI.named("RegionMarket").event_topic("GridPricesSet")
    newest: dict[bytes, int] = {}
    for log in backend.get_logs(None, topic0=prices):
        newest[log.address] = max(newest.get(log.address, 0), log.block_number)
    for address in sorted(newest, key=lambda a: newest[a], reverse=True):
        market = MarketClient(backend, address)
        try:
            if market.region() != rid or market.call("REGISTRY") not in registries:
                continue
            owner = market.operator()
        except (GridLedgerError, DecodingError, ValueError):
            continue  # not a market of ours: it answers something else
        if operator is not None and owner != operator:
            continue
        return DeploymentRecord(
            region=region,
            chain_id=backend.chain_id,
            # as deploy writes them: lowercase hex (the operator checksummed)
            registry="0x" + bytes(market.call("REGISTRY")).hex(),
            token="0x" + market.token().hex(),
            market="0x" + address.hex(),
            operator=checksum(owner),
            slot_seconds=slot_seconds,
            clearing_rule=clearing_rule,
            gate_closure_s=gate_closure_s,
        )
    return None
