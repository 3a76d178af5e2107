"""Dead letters, seen and replayed by an operator (issue 9 §2).

A message a consumer gave up on — refused at once, or failed on every delivery — waits in its
queue's dead letters (RabbitMQ: the queue ``<ns>.<queue>.dead``; single node: the in-process
bus keeps it). The queues are the catalogue's consumers: one per service, and the installer
agent's one per known site. Replaying hands the message back to the queue it died in, same
message id, with a fresh delivery budget: consumers that had it already drop it (inbox), the
one that gave up handles it now that the cause is fixed. Every replay is audited; replaying an
id already replayed changes nothing and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared.bus.port import Bus, DeadLetter
from lockstep_shared.catalogue import ROUTES, Service
from orchestrator.adapters.repositories import Repositories
from orchestrator.domain.audit import AuditQuery
from orchestrator.service_layer.audit import Actor, AuditLog
from orchestrator.service_layer.errors import NotFound

REPLAY = "dead_letter.replay"
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Replayed:
    message_id: str
    queues: tuple[str, ...]  # where it was replayed to now
    already_replayed: bool = False


def envelope_fields(letter: DeadLetter) -> dict[str, Any] | None:
    """The body as JSON when it is JSON (a Lockstep envelope, or what was sent instead)."""
    try:
        parsed = json.loads(letter.body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def type_and_site(letter: DeadLetter) -> tuple[str | None, str | None]:
    fields = envelope_fields(letter) or {}
    kind, site = fields.get("type"), fields.get("siteid")
    return (kind if isinstance(kind, str) else None, site if isinstance(site, str) else None)


def service_queues() -> list[str]:
    """The durable queue of every consuming service but the per-site ones."""
    return sorted({c for route in ROUTES.values() if not route.broadcast and not route.per_site
                   for c in route.consumers})


def per_site_services() -> list[Service]:
    return sorted({c for route in ROUTES.values() if route.per_site for c in route.consumers})


class DeadLetterHandlers:
    def __init__(self, reads: AsyncEngine, repos: Repositories, bus: Bus,
                 audit: AuditLog) -> None:
        self.reads = reads
        self.repos = repos
        self.bus = bus
        self.audit = audit

    async def queues(self) -> list[str]:
        async with self.reads.connect() as conn:
            sites = [s.site_id for s in await self.repos.sites.all(conn)]
        return service_queues() + [f"{service}.{site}" for service in per_site_services()
                                   for site in sorted(sites)]

    async def all(self) -> list[DeadLetter]:
        letters = [letter for queue in await self.queues()
                   for letter in await self.bus.dead_letters(queue)]
        return sorted(letters, key=lambda d: (d.first_death_at or _LONG_AGO, d.queue))

    async def copies(self, message_id: str) -> list[DeadLetter]:
        """Every queue's dead letter with this id (a message of several consumers can die in
        more than one)."""
        found = [d for d in await self.all() if d.message_id == message_id]
        if not found:
            raise NotFound(f"no dead letter {message_id!r} (replayed already, or never "
                           "dead-lettered): GET /api/v1/dead-letters lists them")
        return found

    async def replay(self, message_id: str, actor: Actor) -> Replayed:
        found = [d for d in await self.all() if d.message_id == message_id]
        if not found:
            if await self._replayed_before(message_id):
                return Replayed(message_id, (), already_replayed=True)
            await self.copies(message_id)  # raises NotFound
        queues: list[str] = []
        for letter in found:
            if await self.bus.replay_dead_letter(letter.queue, message_id):
                queues.append(letter.queue)
                kind, site = type_and_site(letter)
                await self.audit.record_alone(
                    actor, REPLAY, site_id=site, message_id=message_id, queue=letter.queue,
                    type=kind, reason=letter.reason, count=letter.count)
        return Replayed(message_id, tuple(queues), already_replayed=not queues)

    async def _replayed_before(self, message_id: str) -> bool:
        async with self.reads.connect() as conn:
            entries = await self.repos.audit.find(conn, AuditQuery(action=REPLAY, limit=1000))
        return any(e.details.get("message_id") == message_id for e in entries)
