"""Fetch a package only once the vendor's signature vouches for it (S4, end to end).

Wraps the ``PackageFetcher``: before anything is downloaded, the package the install command
names is looked up in the vendor's TUF metadata by the agent itself (``adapters.vendor_feed``);
a package the vendor did not sign, or signed with other bytes, is refused as a pre-flight
failure (reported, nothing downloaded, nothing run). The fetcher then checks the downloaded
bytes against that very sha256, so what runs is what the vendor signed, whoever relayed the
command.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from installer_agent.domain.vendor_signature import SignedPackage, signature_refusal
from installer_agent.service_layer.preflight import PackageFetcher, PreflightFailed
from lockstep_shared import metrics
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.catalogue import PackageRef

log = logging.getLogger("installer_agent.host")


class Signatures(Protocol):
    async def signed_package(self, product: str, version: str) -> SignedPackage | None: ...


class SignedPackageFetcher:
    def __init__(self, fetch: PackageFetcher, signatures: Signatures) -> None:
        self.fetch = fetch
        self.signatures = signatures

    @property
    def store(self) -> ArtifactStore:
        """Where the fetched packages are (an agent re-attaching to an install reads it)."""
        return self.fetch.store

    async def __call__(self, package: PackageRef) -> Path:
        try:
            signed = await self.signatures.signed_package(package.product, package.version)
        except Exception as exc:
            raise PreflightFailed(
                f"the vendor's signature of package {package.product} {package.version} could "
                f"not be checked: {exc}; nothing was downloaded or run; check that this host "
                "reaches the vendor feed, then start the update again") from exc
        refusal = signature_refusal(package, signed)
        if refusal is not None:
            metrics.UNSIGNED_PACKAGES_REFUSED.inc()
            raise PreflightFailed(refusal)
        return await self.fetch(package)
