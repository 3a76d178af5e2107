"""Bus subscriptions of the watcher (queue ``release-watcher``), each through the inbox."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared.bus.port import Bus, PermanentError
from lockstep_shared.catalogue import ReleaseCheckRequested, SiteConfigured, binding
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import idempotent
from lockstep_shared.outbox import Outbox
from release_watcher.adapters.tables import inbox
from release_watcher.service_layer.site_config import SiteConfigHandlers

QUEUE = "release-watcher"


async def subscribe(
    bus: Bus,
    engine: AsyncEngine,
    outbox: Outbox,
    handlers: SiteConfigHandlers,
    wake_checker: Callable[[], None],
) -> None:
    effects = {
        SiteConfigured.model_fields["type"].default: idempotent(
            engine, inbox, "watcher.site-configured", handlers.site_configured, outbox=outbox
        ),
        ReleaseCheckRequested.model_fields["type"].default: idempotent(
            engine, inbox, "watcher.check-requested", handlers.check_requested, outbox=outbox
        ),
    }

    async def handle(envelope: Envelope) -> None:
        effect = effects.get(envelope.type)
        if effect is None:
            raise PermanentError(f"release-watcher does not handle {envelope.type}")
        await effect(envelope)
        wake_checker()  # after commit: the checker sees the site due

    await bus.subscribe(
        QUEUE, [binding(SiteConfigured), binding(ReleaseCheckRequested)], handle, prefetch=100
    )
