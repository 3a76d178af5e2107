"""The vendor's TUF feed, read by the agent itself from its own pinned root (S4).

``tuf.ngclient`` refreshes the metadata (root rotation, expiry, rollback and signature
checks), downloads the signed ``catalogue.json`` and reads the signed length and sha256 of the
package target the catalogue names for (product, version). Blocking, so it runs in a worker
thread, one refresh at a time (the metadata cache in ``metadata_dir`` is what refuses a
rollback).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tuf.ngclient import Updater

from installer_agent.domain.vendor_signature import SignedPackage
from lockstep_shared.contracts.vendor_feed import CATALOGUE_TARGET, parse_catalogue
from lockstep_shared.versions import Version


class FeedUnavailable(Exception):
    """The feed could not be read or trusted; the message says why."""


class VendorFeed:
    def __init__(self, *, trusted_root: Path, metadata_dir: Path, feed_url: str) -> None:
        self.trusted_root = trusted_root
        self.metadata_dir = metadata_dir
        self.metadata_url = feed_url.rstrip("/") + "/metadata/"
        self.targets_url = feed_url.rstrip("/") + "/targets/"
        self._lock = asyncio.Lock()

    async def signed_package(self, product: str, version: str) -> SignedPackage | None:
        """The signed target of this release, None if the signed catalogue has no such
        release; ``FeedUnavailable`` if the feed cannot be verified now."""
        async with self._lock:
            return await asyncio.to_thread(self._signed_package, product, version)

    def _signed_package(self, product: str, version: str) -> SignedPackage | None:
        try:
            bootstrap = self.trusted_root.read_bytes()
            self.metadata_dir.mkdir(parents=True, exist_ok=True)
            updater = Updater(str(self.metadata_dir), self.metadata_url,
                              target_base_url=self.targets_url, bootstrap=bootstrap)
            updater.refresh()
            info = updater.get_targetinfo(CATALOGUE_TARGET)
            if info is None:
                raise FeedUnavailable(f"the vendor feed has no {CATALOGUE_TARGET}")
            with tempfile.TemporaryDirectory(dir=self.metadata_dir) as tmp:
                path = updater.download_target(info, filepath=str(Path(tmp) / CATALOGUE_TARGET))
                catalogue = parse_catalogue(Path(path).read_bytes())
            wanted = Version.parse(version)
            release = next((r for r in catalogue.releases_of(product)
                            if r.parsed_version == wanted), None)
            if release is None:
                return None
            target = updater.get_targetinfo(release.package)
            if target is None or "sha256" not in target.hashes:
                return None
            return SignedPackage(release.package, target.hashes["sha256"], target.length)
        except FeedUnavailable:
            raise
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise FeedUnavailable(f"the vendor feed {self.metadata_url} could not be verified "
                                  f"({type(exc).__name__}: {detail})") from exc
