"""Admin API: the bus's dead letters, listed, shown and replayed (issue 9 §2). For vendor
support and admins of every site (``Permission.OPERATE``): a dead letter can belong to any
site."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from lockstep_shared.bus.port import DeadLetter
from lockstep_shared.http_limits import refusals
from orchestrator.domain.accounts import Account, Permission
from orchestrator.entrypoints.auth import Guard
from orchestrator.entrypoints.errors import AdminRoute
from orchestrator.entrypoints.params import MessageIdPath
from orchestrator.service_layer.dead_letters import (
    DeadLetterHandlers,
    envelope_fields,
    type_and_site,
)


class DeadLetterView(BaseModel):
    queue: str  # the queue that gave up on it (where a replay sends it)
    message_id: str
    type: str | None  # None: the body is not a Lockstep envelope
    site_id: str | None
    routing_key: str  # as it was published
    reason: str  # rejected (refused at once) or delivery_limit (failed on every delivery)
    count: int  # times this queue dead-lettered it
    first_death_at: datetime | None


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterView]


class DeadLetterDetail(BaseModel):
    message_id: str
    copies: list[DeadLetterView]  # one per queue holding it
    envelope: dict[str, Any] | None  # the message as JSON
    body: str | None  # the raw body, when it is not JSON


class ReplayView(BaseModel):
    message_id: str
    replayed_to: list[str]
    already_replayed: bool


def dead_letters_router(dead_letters: DeadLetterHandlers, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/api/v1/dead-letters", tags=["operations"],
                       route_class=AdminRoute, responses=refusals(401, 403, 404, 422))
    operator_dep = Depends(guard.allowed(Permission.OPERATE))

    @router.get("", response_model=DeadLetterList)
    async def listed(_: Account = operator_dep) -> DeadLetterList:
        """Every queue's dead letters, oldest first."""
        return DeadLetterList(dead_letters=[_view(d) for d in await dead_letters.all()])

    @router.get("/{message_id}", response_model=DeadLetterDetail)
    async def shown(message_id: MessageIdPath, _: Account = operator_dep) -> DeadLetterDetail:
        copies = await dead_letters.copies(message_id)
        envelope = envelope_fields(copies[0])
        return DeadLetterDetail(
            message_id=message_id, copies=[_view(d) for d in copies], envelope=envelope,
            body=None if envelope is not None else copies[0].body.decode(errors="replace"))

    @router.post("/{message_id}/replay", response_model=ReplayView)
    async def replay(message_id: MessageIdPath, actor: Account = operator_dep) -> ReplayView:
        """Back to the queue it died in, once; audited. Again: nothing more happens."""
        done = await dead_letters.replay(message_id, actor)
        return ReplayView(message_id=done.message_id, replayed_to=list(done.queues),
                          already_replayed=done.already_replayed)

    return router


def _view(letter: DeadLetter) -> DeadLetterView:
    kind, site = type_and_site(letter)
    return DeadLetterView(queue=letter.queue, message_id=letter.message_id, type=kind,
                          site_id=site, routing_key=letter.routing_key, reason=letter.reason,
                          count=letter.count, first_death_at=letter.first_death_at)
