"""Consumers' effects: a site's configuration, and "check now" (R3). Both only make the site
due and wake the checker once committed; the checker does the checking, so a long download
never holds a bus message."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lockstep_shared.bus.port import PermanentError
from lockstep_shared.catalogue import ReleaseCheckFailed, ReleaseCheckRequested, SiteConfigured
from lockstep_shared.unit_of_work import Tx
from release_watcher.adapters import repository
from release_watcher.domain.sites import SiteConfig


class SiteHandlers:
    def __init__(self, *, clock: Callable[[], datetime], wake_checker: Callable[[], None]) -> None:
        self.clock = clock
        self.wake_checker = wake_checker

    async def on_site_configured(self, tx: Tx, event: SiteConfigured) -> None:
        """Create or change the site and its installed products; it is checked at once."""
        products: dict[str, str] = {}
        for item in event.products:
            if item.product in products:
                raise PermanentError(
                    f"site {event.site_id} lists product {item.product!r} twice"
                )
            products[item.product] = item.version
        site = SiteConfig(
            site_id=event.site_id,
            name=event.name,
            license_key=event.license_key,
            check_interval_s=event.check_interval_s,
        )
        await repository.upsert_site(tx.conn, site, products, check_at=self.clock())
        tx.after_commit(self.wake_checker)

    async def on_check_requested(self, tx: Tx, command: ReleaseCheckRequested) -> None:
        """Make the site due now; the check's events carry this request's correlation. A site
        not configured here yet is answered with ``ReleaseCheckFailed`` saying so."""
        known = await repository.request_check(
            tx.conn,
            command.site_id,
            now=self.clock(),
            correlation_id=tx.correlation_id,
            causation_id=tx.causation_id,
        )
        if known:
            tx.after_commit(self.wake_checker)
            return
        tx.emit(ReleaseCheckFailed(
            site_id=command.site_id,
            reason=(
                f"site {command.site_id} is not configured at the release-watcher yet; "
                "it will be checked as soon as its configuration arrives"
            ),
            checked_at=self.clock(),
        ))
