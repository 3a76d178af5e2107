"""The vendor feed through python-tuf's client (R1): refresh from the pinned root, read the
verified catalogue, and tell where each package is and what it must hash to.

``tuf.ngclient`` is blocking, so a refresh runs in a worker thread, one at a time (the client
keeps its trusted metadata in one directory: that cache is what refuses rollbacks).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, Root
from tuf.ngclient import Updater

from lockstep_shared.contracts.vendor_feed import (
    CATALOGUE_TARGET,
    EntitlementRecord,
    InvalidCatalogue,
    InvalidEntitlement,
    entitlement_target,
    parse_catalogue,
    parse_entitlement,
)
from release_watcher.domain.feed import FeedError, FeedSnapshot, PackageTarget

log = logging.getLogger(__name__)


def describe_tuf_error(exc: Exception) -> str:
    """A reason an admin can act on, for every way TUF refuses the feed."""
    detail = str(exc) or str(exc.__cause__ or "") or type(exc).__name__
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return (
            f"vendor feed refused: signed metadata has expired ({detail}); "
            "the vendor must re-sign it"
        )
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return f"vendor feed refused: rollback to older metadata detected ({detail})"
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return f"vendor feed refused: metadata not signed by the trusted keys ({detail})"
    mismatch = (tuf_errors.LengthOrHashMismatchError, tuf_errors.DownloadLengthMismatchError)
    if isinstance(exc, mismatch):
        return f"vendor feed refused: a file does not match its signed length or hash ({detail})"
    if isinstance(exc, tuf_errors.RepositoryError):
        return f"vendor feed refused: invalid metadata ({type(exc).__name__}: {detail})"
    if isinstance(exc, tuf_errors.DownloadError):
        return f"vendor feed unreachable ({type(exc).__name__}): {detail}"
    return f"vendor feed check failed: {type(exc).__name__}: {detail}"


class TufFeed:
    def __init__(
        self,
        *,
        trusted_root: Path | None,
        metadata_dir: Path,
        metadata_url: str,
        targets_url: str,
    ) -> None:
        self.trusted_root = trusted_root
        self.metadata_dir = Path(metadata_dir)
        self.metadata_url = metadata_url
        self.targets_url = targets_url
        self._lock = asyncio.Lock()

    async def snapshot(self, license_keys: Iterable[str] = ()) -> FeedSnapshot:
        """Refresh and verify the feed, with the entitlement records of these licences (R4);
        ``FeedError`` says why the feed cannot be trusted."""
        keys = sorted(set(license_keys))
        async with self._lock:
            return await asyncio.to_thread(self._refresh, keys)

    def _refresh(self, license_keys: list[str]) -> FeedSnapshot:
        if self.trusted_root is None:
            raise FeedError(
                "no trusted root configured: set LOCKSTEP_WATCHER_TRUSTED_ROOT to the vendor's "
                "root.json (printed by `lockstep-vendor root REPO_DIR`)"
            )
        try:
            bootstrap = self.trusted_root.read_bytes()
        except OSError as exc:
            raise FeedError(f"cannot read the trusted root {self.trusted_root}: {exc}") from exc
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        try:
            updater = Updater(
                str(self.metadata_dir),
                self.metadata_url,
                target_base_url=self.targets_url,
                bootstrap=bootstrap,
            )
            updater.refresh()
            info = updater.get_targetinfo(CATALOGUE_TARGET)
            if info is None:
                raise FeedError(f"the vendor feed has no {CATALOGUE_TARGET} target")
            with tempfile.TemporaryDirectory(dir=self.metadata_dir) as tmp:
                path = updater.download_target(info, filepath=str(Path(tmp) / "catalogue.json"))
                data = Path(path).read_bytes()
            catalogue = parse_catalogue(data)
            packages = {}
            consistent = self._consistent_snapshot()
            for release in (r for p in catalogue.products.values() for r in p.releases):
                target = updater.get_targetinfo(release.package)
                if target is None or "sha256" not in target.hashes:
                    continue  # reported per product when (and only if) it is the one needed
                packages[release.package] = PackageTarget(
                    path=release.package,
                    sha256=target.hashes["sha256"],
                    size=target.length,
                    url=self._target_url(release.package, target.hashes["sha256"], consistent),
                )
            entitlements = {key: self._entitlement(updater, key) for key in license_keys}
        except (FeedError, InvalidCatalogue) as exc:
            raise FeedError(str(exc)) from exc
        except Exception as exc:
            reason = describe_tuf_error(exc)
            if isinstance(exc, tuf_errors.DownloadError):
                reason += f" (feed {self.metadata_url})"
            if isinstance(exc, tuf_errors.RepositoryError):
                raise FeedError.refusing(reason) from exc
            raise FeedError(reason) from exc
        return FeedSnapshot(catalogue=catalogue, packages=packages, entitlements=entitlements)

    def _entitlement(
        self, updater: Updater, license_key: str
    ) -> EntitlementRecord | InvalidEntitlement | FeedError | None:
        """One licence's signed entitlement record, verified by TUF (and cached: fetched again
        only when the vendor changes it)."""
        path = entitlement_target(license_key)
        info = updater.get_targetinfo(path)
        if info is None:
            return None
        cached = self.metadata_dir / path
        try:
            found = updater.find_cached_target(info, str(cached))
            if found is None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                found = updater.download_target(info, filepath=str(cached))
            return parse_entitlement(Path(found).read_bytes())
        except InvalidEntitlement as exc:
            return exc
        except Exception as exc:
            return FeedError(f"the subscription of this licence could not be read: "
                             f"{describe_tuf_error(exc)}")

    def _consistent_snapshot(self) -> bool:
        """Whether the (now trusted and cached) root asks for hash-prefixed target names."""
        root = Metadata[Root].from_file(str(self.metadata_dir / "root.json")).signed
        return bool(root.consistent_snapshot)

    def _target_url(self, target_path: str, sha256: str, consistent: bool) -> str:
        if consistent:
            directory, sep, name = target_path.rpartition("/")
            target_path = f"{directory}{sep}{sha256}.{name}"
        return self.targets_url + target_path
