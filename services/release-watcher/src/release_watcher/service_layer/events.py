"""Envelopes for the watcher's events, carrying a "check now" request's correlation forward."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared.catalogue import Message
from lockstep_shared.envelope import Envelope, wrap
from lockstep_shared.messages import MessageFactory
from lockstep_shared.outbox import Outbox

SERVICE = "release-watcher"


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a check runs: a request (its correlation and id) or the schedule (None, None)."""

    correlation_id: str | None = None
    causation_id: str | None = None


def envelope(factory: MessageFactory, message: Message, cause: Cause) -> Envelope:
    if cause.correlation_id is None:
        return factory.new(message)
    return wrap(
        message,
        id=factory.ids(),
        source=factory.source,
        time=factory.clock(),
        correlation_id=cause.correlation_id,
        causation_id=cause.causation_id,
    )


@asynccontextmanager
async def saving(
    engine: AsyncEngine, outbox: Outbox, factory: MessageFactory, cause: Cause
) -> AsyncIterator[tuple[AsyncConnection, list[Message]]]:
    """One transaction: yield the connection and a list of events to send with it (state and
    outbox rows commit together; the relay is told afterwards)."""
    messages: list[Message] = []
    async with engine.begin() as conn:
        yield conn, messages
        await outbox.add(conn, [envelope(factory, m, cause) for m in messages])
    if messages:
        outbox.committed()
