"""Consumers' effects: a site's configuration, and "check now" (R3). Both only make the site
due (the consumer wakes the checker after commit); the checker does the checking, so a long
download never holds a bus message."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.bus.port import PermanentError
from lockstep_shared.catalogue import ReleaseCheckFailed, ReleaseCheckRequested, SiteConfigured
from lockstep_shared.envelope import Envelope
from lockstep_shared.messages import MessageFactory
from lockstep_shared.outbox import Outbox
from release_watcher.adapters import repository
from release_watcher.adapters.repository import SiteConfig


class SiteConfigHandlers:
    def __init__(
        self,
        *,
        outbox: Outbox,
        factory: MessageFactory,
        clock: Callable[[], datetime],
    ) -> None:
        self.outbox = outbox
        self.factory = factory
        self.clock = clock

    async def site_configured(self, conn: AsyncConnection, envelope: Envelope) -> None:
        message = envelope.data
        if not isinstance(message, SiteConfigured):
            raise PermanentError(f"expected SiteConfigured, got {message.type}")
        products: dict[str, str] = {}
        for item in message.products:
            if item.product in products:
                raise PermanentError(
                    f"site {message.site_id} lists product {item.product!r} twice"
                )
            products[item.product] = item.version
        site = SiteConfig(
            site_id=message.site_id,
            name=message.name,
            license_key=message.license_key,
            check_interval_s=message.check_interval_s,
        )
        await repository.upsert_site(conn, site, products, check_at=self.clock())

    async def check_requested(self, conn: AsyncConnection, envelope: Envelope) -> None:
        message = envelope.data
        if not isinstance(message, ReleaseCheckRequested):
            raise PermanentError(f"expected ReleaseCheckRequested, got {message.type}")
        known = await repository.request_check(
            conn,
            message.site_id,
            now=self.clock(),
            correlation_id=envelope.correlationid,
            causation_id=envelope.id,
        )
        if known:
                return
        failed = ReleaseCheckFailed(
            site_id=message.site_id,
            reason=(
                f"site {message.site_id} is not configured at the release-watcher yet; "
                "it will be checked as soon as its configuration arrives"
            ),
            checked_at=self.clock(),
        )
        await self.outbox.add(conn, [self.factory.caused_by(envelope, failed)])

