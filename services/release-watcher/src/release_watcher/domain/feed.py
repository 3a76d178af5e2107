"""The vendor feed as the watcher's rules see it (R1): one verified snapshot of the catalogue,
where each package is and what it must hash to, and the licences' signed entitlements. Pure:
``adapters/feed.py`` (TUF) produces these, the service layer reads them."""

from __future__ import annotations

from dataclasses import dataclass, field

from lockstep_shared.contracts.vendor_feed import (
    Catalogue,
    EntitlementRecord,
    InvalidEntitlement,
)


class FeedError(Exception):
    """The feed could not be refreshed or trusted; the message is the reason shown to admins."""

    refused = False  # True: the feed was refused as untrustworthy (not merely unreachable)

    @classmethod
    def refusing(cls, reason: str) -> FeedError:
        error = cls(reason)
        error.refused = True
        return error


@dataclass(frozen=True, slots=True)
class PackageTarget:
    """A package as TUF vouches for it: exact length, sha256, and where to download it."""

    path: str
    sha256: str
    size: int
    url: str


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    """One verified state of the feed: the catalogue and every target's signed length/hash."""

    catalogue: Catalogue
    packages: dict[str, PackageTarget]
    entitlements: dict[str, EntitlementRecord | InvalidEntitlement | FeedError | None] = field(
        default_factory=dict
    )
    """Per licence key asked for: the signed record, None when the vendor publishes none, an
    ``InvalidEntitlement`` when the signed record makes no sense, a ``FeedError`` when it
    could not be fetched."""

    def entitlement(self, license_key: str) -> EntitlementRecord | InvalidEntitlement | None:
        """The licence's record (``FeedError`` if it could not be fetched this time)."""
        found = self.entitlements.get(license_key, FeedError(
            "the subscription of this licence was not fetched with the feed"
        ))
        if isinstance(found, FeedError):
            raise found
        return found

    def package(self, target_path: str) -> PackageTarget:
        target = self.packages.get(target_path)
        if target is None:
            raise FeedError(
                f"the catalogue names package {target_path!r} but the signed targets "
                "metadata does not list it; the vendor must publish it again"
            )
        return target
