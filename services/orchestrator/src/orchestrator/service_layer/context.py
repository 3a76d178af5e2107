"""What every handler needs, wired once in ``bootstrap``: the engine, the repositories, the
outbox, and the clock and id sources (passed into the pure domain, never read inside it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from lockstep_shared.catalogue import Message
from lockstep_shared.envelope import Envelope
from lockstep_shared.messages import MessageFactory, new_id, utcnow
from lockstep_shared.outbox import Outbox
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orchestrator.adapters.devices_repository import DevicesRepository
from orchestrator.adapters.sites_repository import ReleasesRepository, SitesRepository
from orchestrator.adapters.tables import OUTBOX
from orchestrator.adapters.updates_repository import UpdatesRepository
from orchestrator.settings import OrchestratorSettings

SERVICE = "orchestrator"


class NotFound(LookupError):
    """Unknown site or update (HTTP 404)."""


class AlreadyExists(Exception):
    """The thing to create exists already (HTTP 409)."""


@dataclass
class Context:
    engine: AsyncEngine
    settings: OrchestratorSettings
    clock: Callable[[], datetime] = utcnow
    ids: Callable[[], str] = new_id
    outbox: Outbox = field(default_factory=lambda: Outbox(OUTBOX))
    sites: SitesRepository = field(default_factory=SitesRepository)
    releases: ReleasesRepository = field(default_factory=ReleasesRepository)
    updates: UpdatesRepository = field(default_factory=UpdatesRepository)
    devices: DevicesRepository = field(default_factory=DevicesRepository)

    def __post_init__(self) -> None:
        self.factory = MessageFactory(SERVICE, clock=self.clock, ids=self.ids)

    def envelopes(self, messages: Iterable[Message], *, cause: Envelope | None = None,
                  correlation_id: str | None = None) -> list[Envelope]:
        """Caused by a bus message (same correlation) or started here (correlation = the
        update id, so one update's whole conversation shares it)."""
        if cause is not None:
            return [self.factory.caused_by(cause, m) for m in messages]
        return [self.factory.new(m, correlation_id=correlation_id) for m in messages]

    async def publish(self, conn: AsyncConnection, messages: Iterable[Message], *,
                      cause: Envelope | None = None, correlation_id: str | None = None) -> None:
        """Add outbox rows in the caller's transaction; the relay publishes after commit."""
        await self.outbox.add(conn, self.envelopes(messages, cause=cause,
                                                   correlation_id=correlation_id))
