"""Making envelopes: the one place ids and times are generated for outgoing messages.

Handlers do not call it directly: they `tx.emit` through the unit of work, which does."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from lockstep_shared.catalogue import Message
from lockstep_shared.envelope import Envelope, wrap


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class MessageFactory:
    """Wraps messages for one service, carrying correlation and causation forward."""

    def __init__(
        self,
        service: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], str] = new_id,
    ) -> None:
        self.source = f"/lockstep/{service}"
        self.clock = clock
        self.ids = ids

    def make(self, message: Message, *, correlation_id: str | None = None,
             causation_id: str | None = None) -> Envelope:
        """Wrap a message; without a correlation id it starts a conversation of its own."""
        id_ = self.ids()
        return wrap(
            message,
            id=id_,
            source=self.source,
            time=self.clock(),
            correlation_id=correlation_id or id_,
            causation_id=causation_id,
        )

    def new(self, message: Message, *, correlation_id: str | None = None) -> Envelope:
        """A message that starts (or continues, given its id) a conversation."""
        return self.make(message, correlation_id=correlation_id)

    def caused_by(self, cause: Envelope, message: Message) -> Envelope:
        """A message caused by another: same correlation id, causation id = the cause's id."""
        return self.make(message, correlation_id=cause.correlationid, causation_id=cause.id)
