"""Deploy a city's contracts: the registry, the payment token and one market per region."""

from __future__ import annotations

from dataclasses import dataclass

from gridledger.chain.backend import LedgerBackend
from gridledger.chain.transactions import provide_gas
from gridledger.identity import Signer
from gridledger.ledger.registry import RegistryClient
from gridledger.ledger.settlement import MarketClient
from gridledger.ledger.token import TokenClient

#: Native currency given to each account deployed or registered by the helpers [wei].
GAS_ALLOWANCE_WEI = 10**22


@dataclass(frozen=True)
class Tariffs:
    """Grid prices of a region [micro-units/kWh]."""

    retail_micro_per_kwh: int = 300_000
    feed_in_micro_per_kwh: int = 80_000
    fee_micro_per_kwh: int = 20_000


@dataclass(frozen=True)
class RegionDeployment:
    """The contracts of one region and who runs them."""

    registry: RegistryClient
    token: TokenClient
    market: MarketClient
    region: bytes

    @property
    def addresses(self) -> dict[str, str]:
        return {
            "registry": "0x" + self.registry.address.hex(),
            "token": "0x" + self.token.address.hex(),
            "market": "0x" + self.market.address.hex(),
        }


def deploy_region(
    backend: LedgerBackend,
    *,
    admin: Signer,
    operator: Signer,
    region: bytes,
    issuer: bytes | None = None,
    tariffs: Tariffs | None = None,
    registry: RegistryClient | None = None,
    token: TokenClient | None = None,
    fund: bool = True,
) -> RegionDeployment:
    """Deploy (or reuse) the registry and token, add ``region`` and deploy its market.

    ``admin`` deploys and owns the registry and the token (and is the issuer unless ``issuer`` is
    given); ``operator`` runs the region. With ``fund``, both get gas money from the dev chain.
    """
    if fund:
        provide_gas(backend, [admin.address_bytes, operator.address_bytes], GAS_ALLOWANCE_WEI)
    tariffs = tariffs or Tariffs()
    registry = registry or RegistryClient.deploy(backend, admin)
    token = token or TokenClient.deploy(backend, admin, issuer or admin.address_bytes)
    registry.add_region(admin, region, operator.address_bytes)
    market = MarketClient.deploy(
        backend,
        admin,
        token=token.address,
        registry=registry.address,
        region=region,
        operator=operator.address_bytes,
        retail_micro_per_kwh=tariffs.retail_micro_per_kwh,
        feed_in_micro_per_kwh=tariffs.feed_in_micro_per_kwh,
        fee_micro_per_kwh=tariffs.fee_micro_per_kwh,
    )
    return RegionDeployment(registry, token, market, region)
