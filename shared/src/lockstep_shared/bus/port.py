"""The bus port: what every service needs from a message broker.

Guarantees, identical for both adapters (one contract test suite proves it):

- ``publish`` returns only once every message is safely held by the broker (publisher confirms
  for RabbitMQ, a committed row for the in-process adapter). Messages routed to no queue are
  dropped, as on a topic exchange.
- ``subscribe`` declares a durable queue shared by every replica of a service: each message is
  handled by one consumer, **at least once**. The handler returning means done (ack); raising
  ``PermanentError`` (or receiving an undecodable message) dead-letters it at once; any other
  exception retries it with backoff until ``max_deliveries``, then dead-letters it. Handlers
  must therefore be idempotent (the inbox does that).
- ``subscribe_broadcast`` gives every process its own transient copy of each message, with no
  durability: for wake-ups only (a device connected to any gateway replica), never for effects.
- With a ``PublisherCheck`` (``connect`` always gives one), a message whose authenticated
  publisher (RabbitMQ's validated ``user_id``; the publishing service on the in-process bus) is
  not the one its type allows is dead-lettered without reaching the handler (``identity.py``).

A handler never publishes: its messages go through the outbox after commit (X3). The one named
exception is ``publish_ephemeral``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lockstep_shared.envelope import Envelope

Handler = Callable[["Envelope"], Awaitable[None]]


class PermanentError(Exception):
    """The message can never be handled (bad content, broken rule): dead-letter, don't retry."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A serialized envelope ready to publish (what the outbox stores)."""

    message_id: str
    routing_key: str
    body: bytes

    @classmethod
    def of(cls, envelope: Envelope) -> Outgoing:
        return cls(envelope.id, envelope.routing_key, envelope.to_json())


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a queue gave up on, as its dead-letter queue holds it.

    ``reason``: ``rejected`` (refused at once: a ``PermanentError`` or not an envelope) or
    ``delivery_limit`` (its handler failed on every delivery); the in-process bus adds the
    handler's error after a colon. ``routing_key`` is the key it was published with;
    ``count`` how often this queue dead-lettered it (a replayed message can die again)."""

    queue: str
    body: bytes
    reason: str
    message_id: str = ""
    routing_key: str = ""
    count: int = 1
    first_death_at: datetime | None = None


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, messages: Sequence[Outgoing]) -> None: ...

    async def subscribe(
        self,
        queue: str,
        bindings: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 100,
    ) -> None: ...

    async def subscribe_broadcast(self, bindings: Sequence[str], handler: Handler) -> None: ...

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        """The queue's dead letters, oldest first; they stay where they are."""
        ...

    async def replay_dead_letter(self, queue: str, message_id: str) -> bool:
        """Hand the dead letter ``message_id`` back to ``queue`` (only that queue: the other
        consumers of its routing key had it already) with a fresh delivery budget, and remove
        it from the dead letters. False if the queue has no such dead letter (any more). A crash
        half-way can leave it both re-queued and dead: replaying it again is safe, the
        consumer's inbox drops the second copy."""
        ...

    async def ready(self) -> bool: ...


async def publish_ephemeral(bus: Bus, envelopes: Sequence[Envelope]) -> None:
    """Publish now, straight to the bus, outside any transaction and outbox.

    The one named exception to "never publish before commit" (X3), for messages that record
    no state and are worthless once late: the installer agent's heartbeat (U8). One that
    cannot be sent now is lost, never sent later, which is what its consumer expects (a
    missing heartbeat is exactly what the orchestrator should notice). Raises what
    ``bus.publish`` raises. A message about a change of state goes through ``tx.emit``."""
    await bus.publish([Outgoing.of(envelope) for envelope in envelopes])
