"""What every handler needs, wired once in ``bootstrap``: the engine, the repositories, the
outbox, and the clock and id sources (passed into the pure domain, never read inside it)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared.catalogue import Message
from lockstep_shared.contracts.confirmation_code import format_code
from lockstep_shared.envelope import Envelope
from lockstep_shared.messages import MessageFactory, new_id, utcnow
from lockstep_shared.outbox import Outbox
from orchestrator.adapters.accounts_repository import AccountsRepository
from orchestrator.adapters.audit_repository import AuditEntry, AuditRepository
from orchestrator.adapters.devices_repository import DevicesRepository
from orchestrator.adapters.http_clients import GatewayCodes, SupportEndpoint
from orchestrator.adapters.passwords import Passwords
from orchestrator.adapters.sites_repository import (
    EntitlementsRepository,
    ReleasesRepository,
    SitesRepository,
)
from orchestrator.adapters.support_reports_repository import SupportReportsRepository
from orchestrator.adapters.tables import outbox
from orchestrator.adapters.updates_repository import UpdatesRepository
from orchestrator.domain.accounts import Account
from orchestrator.settings import OrchestratorSettings

SERVICE = "orchestrator"


@dataclass
class Context:
    engine: AsyncEngine
    settings: OrchestratorSettings
    clock: Callable[[], datetime] = utcnow
    ids: Callable[[], str] = new_id
    outbox: Outbox = field(default_factory=lambda: Outbox(outbox))
    sites: SitesRepository = field(default_factory=SitesRepository)
    releases: ReleasesRepository = field(default_factory=ReleasesRepository)
    updates: UpdatesRepository = field(default_factory=UpdatesRepository)
    devices: DevicesRepository = field(default_factory=DevicesRepository)
    accounts: AccountsRepository = field(default_factory=AccountsRepository)
    audit_log: AuditRepository = field(default_factory=AuditRepository)
    reports: SupportReportsRepository = field(default_factory=SupportReportsRepository)
    entitlements: EntitlementsRepository = field(default_factory=EntitlementsRepository)
    challenges: Callable[[], str] = lambda: format_code(secrets.randbelow(10**15))
    tokens: Callable[[], str] = lambda: secrets.token_urlsafe(32)
    passwords: Passwords | None = None
    gateway: GatewayCodes | None = None
    support: SupportEndpoint | None = None

    def __post_init__(self) -> None:
        self.factory = MessageFactory(SERVICE, clock=self.clock, ids=self.ids)
        s = self.settings
        if self.passwords is None:
            self.passwords = Passwords(s.argon2_time_cost, s.argon2_memory_kib)
        if self.gateway is None:
            self.gateway = GatewayCodes(s.gateway_url, s.internal_token)
        if self.support is None:
            self.support = SupportEndpoint(s.support_url)

    async def audit(self, conn: AsyncConnection, actor: Account | str, action: str, *,
                    outcome: str = "ok", site_id: str | None = None,
                    update_id: str | None = None, **details: Any) -> None:
        """U15: who (and as what), when, what, outcome — in the caller's transaction."""
        name, role = ((actor.username, actor.role.value) if isinstance(actor, Account)
                      else (actor, None))
        await self.audit_log.add(conn, AuditEntry(
            at=self.clock(), actor=name, role=role, action=action, outcome=outcome,
            site_id=site_id, update_id=update_id, details=details))

    async def audit_alone(self, actor: Account | str, action: str, **kwargs: Any) -> None:
        """A refused or failed action: recorded in its own transaction."""
        async with self.engine.begin() as conn:
            await self.audit(conn, actor, action, **kwargs)

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
